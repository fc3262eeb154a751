import Testing

@testable import AMQP

@Suite("Held publishes, the blocked and confirm timeouts, with an injected clock")
struct PublishFlowTests {
    let message = AMQPMessage(exchange: "", routingKey: "q", body: [1, 2, 3])

    @Test("blocked with a publish held: no timeout before blockedTimeout, .blocked at it")
    func blockedTimeout() {
        let clock = ManualClock()
        var flow = PublishFlow(now: { clock.instant })
        let (batch, _) = makeBatch(1)
        flow.block(reason: "low on disk")
        flow.hold(channel: 1, messages: [message], batch: batch)
        #expect(flow.next == nil, "nothing is written while blocked")
        #expect(!flow.waitsForSocketRoom)
        clock.advance(.seconds(59))
        #expect(flow.timeout(limit: .seconds(60), hasUnconfirmed: false) == nil)
        clock.advance(.seconds(1))
        guard case .blocked(let reason, let waited)? = flow.timeout(limit: .seconds(60), hasUnconfirmed: false) else {
            Issue.record("expected the blocked timeout")
            return
        }
        #expect(reason == "low on disk" && waited == .seconds(60))
    }

    @Test("blocked with nothing waiting never times out; unconfirmed publishes count as waiting")
    func blockedWithNothingWaiting() {
        let clock = ManualClock()
        var flow = PublishFlow(now: { clock.instant })
        flow.block(reason: "alarm")
        clock.advance(.seconds(120))
        #expect(flow.timeout(limit: .seconds(60), hasUnconfirmed: false) == nil)
        #expect(flow.timeout(limit: .seconds(60), hasUnconfirmed: true) != nil)
        #expect(flow.timeout(limit: nil, hasUnconfirmed: true).isNone, "no limit: never")
    }

    @Test("unblocking resets the blocked clock and lets publishes go")
    func unblock() {
        let clock = ManualClock()
        var flow = PublishFlow(now: { clock.instant })
        let (batch, _) = makeBatch(1)
        flow.block(reason: "alarm")
        flow.hold(channel: 1, messages: [message], batch: batch)
        clock.advance(.seconds(50))
        flow.unblock()
        #expect(flow.next?.channel == 1)
        #expect(flow.waitsForSocketRoom)
        flow.block(reason: "again")
        clock.advance(.seconds(50))
        #expect(flow.timeout(limit: .seconds(60), hasUnconfirmed: false) == nil, "blocked 50 s this time")
    }

    @Test("a held publish the socket takes nothing of stalls after the timeout; progress restarts the wait")
    func stalled() {
        let clock = ManualClock()
        var flow = PublishFlow(now: { clock.instant })
        let (first, _) = makeBatch(1)
        let (second, _) = makeBatch(1)
        flow.hold(channel: 1, messages: [message], batch: first)
        flow.hold(channel: 2, messages: [message], batch: second)
        clock.advance(.seconds(40))
        var entry = flow.next!
        entry.bodyBytesSent = 0
        flow.updateFirst(entry, progressed: true)
        clock.advance(.seconds(40))
        #expect(flow.timeout(limit: .seconds(60), hasUnconfirmed: false) == nil)
        flow.removeFirst()
        #expect(flow.next?.channel == 2, "in order")
        clock.advance(.seconds(59))
        #expect(flow.timeout(limit: .seconds(60), hasUnconfirmed: false) == nil, "the next one's wait starts now")
        clock.advance(.seconds(1))
        guard case .stalled(let stuck, _)? = flow.timeout(limit: .seconds(60), hasUnconfirmed: false) else {
            Issue.record("expected a stall")
            return
        }
        #expect(stuck.channel == 2)
        #expect(flow.removeAll().count == 1)
        #expect(flow.held.isEmpty)
    }
}

@Suite("The confirm timeout: written publishes the broker never answers, with an injected clock")
struct ConfirmTimeoutTests {
    let message = AMQPMessage(exchange: "", routingKey: "q", body: [1, 2, 3])

    @Test("unconfirmed with nothing written or confirmed since: nil before the limit, .unconfirmed at it")
    func silence() {
        let clock = ManualClock()
        var flow = PublishFlow(now: { clock.instant })
        let (batch, _) = makeBatch(1)
        flow.hold(channel: 1, messages: [message], batch: batch)
        flow.removeFirst()  // written whole
        clock.advance(.seconds(29))
        #expect(flow.timeout(limit: .seconds(60), confirmLimit: .seconds(30), hasUnconfirmed: true) == nil)
        clock.advance(.seconds(1))
        guard
            case .unconfirmed(let waited)? = flow.timeout(
                limit: .seconds(60), confirmLimit: .seconds(30), hasUnconfirmed: true)
        else {
            Issue.record("expected the confirm timeout")
            return
        }
        #expect(waited == .seconds(30))
        #expect(flow.timeout(limit: .seconds(60), hasUnconfirmed: true) == nil, "no confirm limit: never")
        #expect(
            flow.timeout(limit: .seconds(60), confirmLimit: .seconds(30), hasUnconfirmed: false) == nil,
            "nothing awaits a confirm: nothing to time out")
    }

    @Test(
        "each confirm, each frame written and an unblock restart the wait; a slow but answering broker never times out")
    func activityRestartsTheWait() {
        let clock = ManualClock()
        var flow = PublishFlow(now: { clock.instant })
        func timedOut() -> Bool {
            flow.timeout(limit: .seconds(60), confirmLimit: .seconds(30), hasUnconfirmed: true) != nil
        }
        for _ in 0..<10 {
            clock.advance(.seconds(29))
            flow.confirmArrived()
            #expect(!timedOut())
        }
        let (batch, _) = makeBatch(1)
        flow.hold(channel: 1, messages: [message], batch: batch)
        clock.advance(.seconds(25))
        var entry = flow.next!
        entry.bodyBytesSent = 1
        flow.updateFirst(entry, progressed: true)
        clock.advance(.seconds(25))
        #expect(!timedOut(), "a frame written 25 s ago")
        flow.updateFirst(entry, progressed: false)
        clock.advance(.seconds(5))
        #expect(timedOut(), "no frame taken and no confirm for 30 s")
    }

    @Test("while blocked the blocked timeout rules; the confirm wait starts again at the unblock")
    func blockedIsNotSilence() {
        let clock = ManualClock()
        var flow = PublishFlow(now: { clock.instant })
        flow.block(reason: "alarm")
        clock.advance(.seconds(45))
        #expect(flow.timeout(limit: .seconds(60), confirmLimit: .seconds(30), hasUnconfirmed: true) == nil)
        flow.unblock()
        clock.advance(.seconds(29))
        #expect(flow.timeout(limit: .seconds(60), confirmLimit: .seconds(30), hasUnconfirmed: true) == nil)
        clock.advance(.seconds(1))
        #expect(flow.timeout(limit: nil, confirmLimit: .seconds(30), hasUnconfirmed: true) != nil)
    }
}

extension Optional where Wrapped == PublishFlow.Timeout {
    var isNone: Bool { self == nil }
}
