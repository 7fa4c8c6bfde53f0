import Foundation
import Hummingbird
import Logging
import NIOCore

/// The monitor's read-only HTTP surface on Hummingbird: `GET /metrics` (Prometheus text
/// format), `GET /` (the status page), `GET /healthz` (liveness).
enum MonitorHTTP {
    static func application(
        monitor: MonitorService, host: String, port: Int, logger: Logger,
        onRunning: @escaping @Sendable (SocketAddress) -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: monitor.metrics.exposition())))
        }
        router.get("/") { _, _ -> Response in
            let page = try await monitor.statusPage()
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                    .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'",
                ],
                body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
        }
        router.get("/healthz") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "roundtrip"),
            onServerRunning: { channel in
                if let a = channel.localAddress { onRunning(a) }
            },
            logger: httpLogger
        )
    }

    static func display(_ a: SocketAddress) -> String {
        let ip = a.ipAddress ?? "?"
        let port = a.port.map(String.init) ?? "?"
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    static func describe(_ error: any Error, host: String, port: Int) -> MonitorHTTPError {
        if let io = error as? IOError, [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(io.errnoCode) {
            return MonitorHTTPError(
                description: "cannot serve metrics on \(host):\(port): \(io.description)", cannotBind: true)
        }
        return MonitorHTTPError(
            description: "the metrics server on \(host):\(port) failed: \(error)", cannotBind: false)
    }
}
