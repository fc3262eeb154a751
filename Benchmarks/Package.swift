// swift-tools-version:6.1
// Micro-benchmarks of the hot paths: event decoding and the projection's apply, and the read
// API's answers. A package of its own, out of the main package's build graph; run it with
// `scripts/bench` (release build, scratch path .build-bench).
import PackageDescription

// A path dependency is known by its directory's name (lowercased), whatever the checkout is called.
let accountservice = Context.packageDirectory.split(separator: "/").dropLast().last.map { $0.lowercased() } ?? ""

let package = Package(
    name: "accountservice-benchmarks",
    // Linux only (Glibc, eventfd, librabbitmq through pkg-config): no Apple platform is declared.
    products: [
        .executable(name: "accountservice-benchmarks", targets: ["accountservice-benchmarks"])
    ],
    dependencies: [
        .package(path: "..")
    ],
    targets: [
        // Counts allocations by defining malloc and friends in the executable (they forward to
        // glibc's __libc_* entry points), and reads glibc's heap figures: no LD_PRELOAD.
        .target(name: "MallocCounter"),
        .executableTarget(
            name: "accountservice-benchmarks",
            dependencies: [
                "MallocCounter",
                .product(name: "AccountProjection", package: accountservice),
                .product(name: "AccountHistory", package: accountservice),
                .product(name: "AccountConsumer", package: accountservice),
                .product(name: "AccountReadAPI", package: accountservice),
                .product(name: "AMQP", package: accountservice),
            ],
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
