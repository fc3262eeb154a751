@testable import AMQP

/// What a publish batch ended with, recorded for the test to read.
final class BatchResult {
    var result: Result<[PublishOutcome], AMQPError>?
    var outcomes: [PublishOutcome]? { try? result?.get() }
    var error: AMQPError? {
        guard case .failure(let error)? = result else { return nil }
        return error
    }
}

func makeBatch(_ count: Int) -> (PublishBatch, BatchResult) {
    let box = BatchResult()
    let batch = PublishBatch(count: count) { box.result = $0 }
    return (batch, box)
}

/// Carries out completions as the connection loop does.
func apply(_ action: ConnectionStateMachine.Action) {
    if case .completePublishes(let completions) = action {
        for completion in completions {
            completion.confirm.batch.complete(completion.confirm.index, completion.outcome)
        }
    }
}

/// A state machine with one channel in confirm mode and `count` messages of one batch written on it.
func machineWithPublishes(_ count: Int) throws -> (ConnectionStateMachine, UInt16, BatchResult) {
    var machine = ConnectionStateMachine(channelMax: 2047)
    let channel = try machine.allocateChannel()
    machine.setConfirmMode(channel)
    let (batch, box) = makeBatch(count)
    for index in 0..<count { machine.track(PendingConfirm(batch: batch, index: index), on: channel) }
    return (machine, channel, box)
}

/// A clock the test moves by hand.
final class ManualClock {
    var nanoseconds: UInt64 = 1_000_000_000
    var instant = ContinuousClock.now

    func advance(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        nanoseconds += UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        instant += duration
    }
}

func delivery(_ tag: UInt64, consumer: String) -> AMQPDelivery {
    AMQPDelivery(deliveryTag: tag, consumerTag: consumer, body: [UInt8(truncatingIfNeeded: tag)])
}
