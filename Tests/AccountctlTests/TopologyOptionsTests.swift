import AccountMessaging
import Testing

@testable import accountctl

@Suite("accountctl topology options")
struct TopologyOptionsTests {
    @Test func theStreamFlagIsTheServicesEventsStreamAndTheOldSpellingStillWorks() throws {
        let none = Environment([:])
        #expect(try TopologyOptions.parse(["--events-stream", "s1"]).topology(environment: none).stream == "s1")
        #expect(try TopologyOptions.parse(["--stream", "s2"]).topology(environment: none).stream == "s2")
        #expect(try TopologyOptions.parse([]).topology(environment: none) == Topology())
        #expect(!TopologyOptions.helpMessage().contains("--stream "))
    }

    @Test func theEnvironmentFillsWhatNoFlagSays() throws {
        let environment = Environment(["EVENTS_STREAM": "e", "EXCHANGE": "x", "INVALID_QUEUE": "q"])
        let topology = try TopologyOptions.parse([]).topology(environment: environment)
        #expect(topology == Topology(exchange: "x", stream: "e", invalidQueue: "q"))
    }
}
