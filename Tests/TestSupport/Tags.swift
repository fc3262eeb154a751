public import Testing

/// What a suite needs or does: `scripts/test` reads the tags to pick its phases (docs/testing.md).
extension Tag {
    /// Needs the RabbitMQ at AMQP_TEST_URL (or starts `accountservice` against it).
    @Tag public static var broker: Self
    /// Starts, stops, kills or starves brokers of its own on fixed ports, or stops the shared
    /// one (`StalledPublishTests`): run after the rest, when no other phase uses the shared broker.
    @Tag public static var fault: Self
    /// Asserts an upper bound on elapsed time: run alone, so that a loaded machine cannot fail it.
    @Tag public static var timing: Self
    /// Takes tens of seconds (thousands of messages through the real service): run on its own.
    @Tag public static var slow: Self
}
