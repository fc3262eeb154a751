// swift-tools-version:6.1
// The libFuzzer target for the event decoder and the projection rules. A package of its
// own, out of the main package's build graph: it is built only with the fuzzer and
// address sanitizers, by scripts/fuzz (scratch path .build-fuzz), never by `swift build`
// or `swift test` at the root.
import PackageDescription

// A path dependency is known by its directory's name (lowercased), whatever the checkout is called.
let accountservice = Context.packageDirectory.split(separator: "/").dropLast().last.map { $0.lowercased() } ?? ""

let package = Package(
    name: "accountservice-fuzz",
    // Linux only (Glibc, eventfd, librabbitmq through pkg-config): no Apple platform is declared.
    dependencies: [
        // The main package; only its dependency-free `AccountProjection` and `JSON` libraries are built.
        .package(path: "..")
    ],
    targets: [
        // The entry point SwiftPM links as `main`: it runs libFuzzer's driver.
        .target(name: "FuzzDriver"),
        // Defines LLVMFuzzerTestOneInput: the decoder, the JSON reader and writer, the
        // projection rules and the snapshot, with invariants that trap when broken.
        .executableTarget(
            name: "FuzzEventDecoder",
            dependencies: [
                "FuzzDriver",
                .product(name: "AccountProjection", package: accountservice),
                .product(name: "JSON", package: accountservice),
            ],
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
