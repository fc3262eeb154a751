// swift-tools-version:6.2
import PackageDescription

// The service with an OTLP trace exporter: the same program (AccountServiceLauncher) handed a
// swift-otel tracing backend. A package of its own so that the default build never resolves or
// compiles swift-otel (it brings full Foundation, SwiftProtobuf and AsyncHTTPClient, and minutes of
// build time). Build it with `scripts/build-otel`.

// A path dependency is known by its directory's name (lowercased), whatever the checkout is called.
let accountservice = Context.packageDirectory.split(separator: "/").dropLast().last.map { $0.lowercased() } ?? ""

let package = Package(
    name: "accountservice-otel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "accountservice-otel", targets: ["accountservice-otel"])
    ],
    dependencies: [
        .package(path: ".."),
        // OTLP/HTTP only: the default traits would add gRPC (grpc-swift, HTTP/2), much bigger still.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "accountservice-otel",
            dependencies: [
                .product(name: "AccountServiceLauncher", package: accountservice),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
