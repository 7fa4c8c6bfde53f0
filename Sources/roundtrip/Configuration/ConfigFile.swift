import Foundation
import TOMLKit

/// The TOML configuration file: one table per subcommand whose keys are the
/// subcommand's long option names. Values become arguments for the options
/// the command line does not already give, so flags override the file and
/// everything a flag sets can be set in the file.
///
///     [check]
///     starttls = "require"
///     ca-file = "/etc/ssl/our-ca.pem"
///     rcpt = ["alice@example.org", "bob@example.org"]
///     allow-plaintext-auth = false
///
/// Secrets are refused: passwords come from `password-file` or the
/// environment only.
enum ConfigFile {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static let environmentVariable = "ROUNDTRIP_CONFIG"

    /// The default location: $ROUNDTRIP_CONFIG, else
    /// $XDG_CONFIG_HOME/roundtrip/config.toml, else ~/.config/roundtrip/config.toml.
    static func defaultPath(environment: [String: String]) -> String {
        if let p = environment[environmentVariable], !p.isEmpty { return p }
        let base =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return base + "/roundtrip/config.toml"
    }

    /// Takes `--config FILE` (or `--config=FILE`) out of the arguments and
    /// adds what the file sets for the subcommand.
    static func apply(to arguments: [String], environment: [String: String]) throws -> [String] {
        var args = arguments
        var explicitPath: String?
        if let i = args.firstIndex(where: { $0 == "--config" }) {
            guard i + 1 < args.count else { throw Problem(description: "--config needs a file") }
            explicitPath = args[i + 1]
            args.removeSubrange(i...(i + 1))
        } else if let i = args.firstIndex(where: { $0.hasPrefix("--config=") }) {
            explicitPath = String(args[i].dropFirst("--config=".count))
            args.remove(at: i)
        }
        let path = explicitPath ?? defaultPath(environment: environment)
        guard FileManager.default.fileExists(atPath: path) else {
            if explicitPath != nil { throw Problem(description: "the config file \(path) does not exist") }
            return args
        }
        guard let subcommand = args.first, !subcommand.hasPrefix("-") else { return args }
        // `monitor` reads its [[monitor.route]] tables from the file itself.
        if subcommand == "monitor" {
            let extra = ["--config", path]
            if let dd = args.firstIndex(of: "--") { args.insert(contentsOf: extra, at: dd) } else { args += extra }
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Problem(description: "cannot read the config file \(path): \(error.localizedDescription)")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch {
            throw Problem(description: "the config file \(path) is not valid TOML: \(error)")
        }
        guard let section = table[subcommand]?.table else { return args }
        let extra = try Self.arguments(for: section, subcommand: subcommand, path: path, given: Array(args.dropFirst()))
        // Options go before a "--" terminator, if there is one.
        if let dd = args.firstIndex(of: "--") {
            args.insert(contentsOf: extra, at: dd)
        } else {
            args.append(contentsOf: extra)
        }
        return args
    }

    /// Tables of a subcommand's section that the subcommand reads itself (`[[monitor.route]]`),
    /// not options.
    static let ownTables: [String: Set<String>] = ["monitor": ["route"]]

    static func arguments(
        for section: TOMLTable, subcommand: String, path: String, given: [String], skipping: Set<String> = []
    ) throws -> [String] {
        var out: [String] = []
        for key in section.keys.sorted() where !skipping.contains(key) && ownTables[subcommand]?.contains(key) != true {
            guard let value = section[key] else { continue }
            let lower = key.lowercased()
            if lower.contains("password") && lower != "password-file" {
                throw Problem(
                    description:
                        "\(path): [\(subcommand)] \(key): secrets are not read from the config file; use password-file or ROUNDTRIP_PASSWORD"
                )
            }
            guard key.range(of: "^[a-z][a-z0-9-]*$", options: .regularExpression) != nil else {
                throw Problem(description: "\(path): [\(subcommand)] \(key) is not an option name")
            }
            let flag = "--" + key
            if given.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) { continue }
            out += try render(flag, value, where: "\(path): [\(subcommand)] \(key)")
        }
        return out
    }

    static func render(_ flag: String, _ value: any TOMLValueConvertible, where location: String) throws -> [String] {
        if let b = value.bool { return b ? [flag] : [] }
        if let s = value.string { return [flag, s] }
        if let i = value.int { return [flag, String(i)] }
        if let d = value.double { return [flag, String(d)] }
        if let a = value.array {
            var out: [String] = []
            for element in a {
                guard element.array == nil, element.table == nil, element.bool == nil else {
                    throw Problem(description: "\(location): arrays may hold strings and numbers only")
                }
                out += try render(flag, element, where: location)
            }
            return out
        }
        throw Problem(description: "\(location): unsupported value (use a string, number, boolean or array)")
    }
}
