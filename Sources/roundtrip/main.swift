print("roundtrip")
