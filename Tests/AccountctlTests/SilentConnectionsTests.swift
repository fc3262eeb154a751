import AMQP
import Testing

@testable import accountctl

@Suite("publish gives up on a broker that keeps taking messages and never confirms")
struct SilentConnectionsTests {
    static let silent = AMQPError.confirmsStalled(unconfirmed: 362, waited: .seconds(30))
    static let lost = AMQPError.connectionLost(reason: "a socket error occurred")

    /// What `givesUp` answers for each connection's end in turn: its error and the confirms so far.
    private func answers(_ ends: [(AMQPError, Int)]) -> [Bool] {
        var silence = SilentConnections()
        return ends.map { silence.givesUp(after: $0.0, confirmed: $0.1) }
    }

    @Test("three silent connections in a row with nothing confirmed on them: give up at the third")
    func threeInARow() {
        #expect(answers([(Self.silent, 1000), (Self.silent, 1000), (Self.silent, 1000)]) == [false, false, true])
    }

    @Test("a connection that confirmed something before it fell silent starts the count again")
    func progressResets() {
        let ends = stride(from: 1000, through: 10000, by: 1000).map { (Self.silent, $0) }
        #expect(answers(ends) == Array(repeating: false, count: ends.count))
        #expect(
            answers([(Self.silent, 5), (Self.silent, 5), (Self.silent, 6), (Self.silent, 6)]) == [
                false, false, false, false,
            ])
    }

    @Test("another failure (a socket error) between silent ones starts the count again")
    func otherFailuresReset() {
        let ends = [
            (Self.silent, 5), (Self.silent, 5), (Self.lost, 5), (Self.silent, 5), (Self.silent, 5), (Self.silent, 5),
        ]
        #expect(answers(ends) == [false, false, false, false, false, true])
    }
}
