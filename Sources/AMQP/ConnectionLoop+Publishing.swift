/// Publishing, a frame at a time, as far as the broker and the socket allow.
extension ConnectionLoop {
    /// Writes the messages; the batch completes as their confirms arrive (at once without confirm
    /// mode). While the broker blocks publishing, or the socket has no room, they wait their turn.
    func publish(channel: UInt16, messages: [AMQPMessage], batch: PublishBatch) {
        do throws(AMQPError) {
            try requireOpen()
        } catch {
            // The connection has ended (or is ending): nothing will ever write these.
            batch.fail(with: error)
            return
        }
        flow.hold(channel: channel, messages: messages, batch: batch)
        writeHeldPublishes()
    }

    /// Writes held publishes in order, as far as the broker and the socket allow.
    func writeHeldPublishes() {
        while failure == nil, var entry = flow.next {
            let (done, progressed) = write(&entry)
            if done {
                flow.removeFirst()
            } else {
                flow.updateFirst(entry, progressed: progressed)
                return
            }
        }
    }

    /// Writes what the socket has room for, a frame at a time; `done` when the entry is done
    /// (written or failed). A message goes out as basic.publish, its content header and body
    /// frames sized to the room there is, so one larger than the send buffer is written in
    /// parts as the socket drains; frames of other channels (acks, heartbeats) may come
    /// between its frames, which the protocol allows.
    private func write(_ entry: inout HeldPublish) -> (done: Bool, progressed: Bool) {
        var progressed = false
        do throws(AMQPError) {
            try requireOpen()
            try requireChannel(entry.channel, forContent: true)
        } catch {
            entry.batch.fail(with: error)
            return (true, progressed)
        }
        let confirmMode = machine.confirmMode(entry.channel) == true
        let frameMax = configuration.frameMax
        while let index = entry.messages.indices.first {
            let message = entry.messages[index]
            do throws(AMQPError) {
                if entry.bodyBytesSent == nil {
                    // The method and the header (at most one frame) go out together.
                    if let room = connection.sendRoom, room < min(frameMax + frameSlack, connection.sendCapacity / 2) {
                        return (false, progressed)
                    }
                    let confirm = PendingConfirm(batch: entry.batch, index: index)
                    let channel = entry.channel
                    try connection.sendPublishStart(channel: channel, message) {
                        if confirmMode { machine.track(confirm, on: channel) }
                    }
                    entry.bodyBytesSent = 0
                    progressed = true
                }
                while let sent = entry.bodyBytesSent, sent < message.body.count {
                    let remaining = message.body.count - sent
                    var length = min(remaining, frameMax - 8)
                    if let room = connection.sendRoom {
                        // Never a frame the socket cannot take at once (rabbitmq-c would wait in send),
                        // nor a crowd of tiny ones: wait for a useful amount of room.
                        length = min(length, room - frameSlack)
                        if length < min(remaining, smallestBodyFrame) { return (false, progressed) }
                    }
                    try connection.sendBodyFrame(channel: entry.channel, message.body, offset: sent, length: length)
                    entry.bodyBytesSent = sent + length
                    progressed = true
                }
            } catch {
                fail(error)
                entry.batch.fail(with: error)
                return (true, progressed)
            }
            if !confirmMode { entry.batch.complete(index, .sent) }
            entry.messages = entry.messages.dropFirst()
            entry.bodyBytesSent = nil
        }
        return (true, progressed)
    }

    /// Writes the rest of the message half written on channel `id`, if there is one, waiting in
    /// send as amqp_basic_publish does: a method on that channel must not land inside its content.
    func finishContentInProgress(on id: UInt16) {
        guard failure == nil, var entry = flow.held.first, entry.channel == id,
            let sent = entry.bodyBytesSent, let index = entry.messages.indices.first
        else { return }
        let body = entry.messages[index].body
        var offset = sent
        while offset < body.count {
            let length = min(body.count - offset, configuration.frameMax - 8)
            do throws(AMQPError) {
                try connection.sendBodyFrame(channel: id, body, offset: offset, length: length)
            } catch {
                fail(error)
                entry.batch.fail(with: error)
                flow.removeFirst()
                return
            }
            offset += length
        }
        if machine.confirmMode(id) != true { entry.batch.complete(index, .sent) }
        entry.messages = entry.messages.dropFirst()
        entry.bodyBytesSent = nil
        if entry.messages.isEmpty {
            flow.removeFirst()
        } else {
            flow.updateFirst(entry, progressed: true)
        }
    }

    /// Room kept free beside a frame: its 8 bytes of framing, TLS record overhead. Relative to
    /// the send buffer, which the kernel grows as data flows: a small one still takes frames.
    private var frameSlack: Int { min(4096, connection.sendCapacity / 8) }
    /// Body frames smaller than this wait for more room (unless the rest of the body is smaller).
    private var smallestBodyFrame: Int { min(16384, connection.sendCapacity / 4) }

    /// Ends the connection when publishing has been stuck longer than `blockedTimeout`: blocked
    /// by the broker with publishes waiting (held, or written and unconfirmed), or a socket that
    /// has taken nothing more of a held publish; or when written publishes have had no confirm
    /// for `confirmTimeout`. Every waiting publish then fails with the reason; nothing hangs.
    func failHeldPublishesPastTimeout() {
        let timeout = flow.timeout(
            limit: configuration.blockedTimeout, confirmLimit: configuration.confirmTimeout,
            hasUnconfirmed: machine.hasUnconfirmed)
        switch timeout {
        case nil:
            break
        case .blocked(let reason, let waited):
            fail(.blocked(reason: reason, waited: waited))
        case .stalled(let entry, let waited):
            fail(.publishStalled(detail: stallDetail(entry, waited: waited)))
        case .unconfirmed(let waited):
            fail(.confirmsStalled(unconfirmed: machine.unconfirmedCount, waited: waited))
        }
    }

    /// Which publish is stuck and how: its size and destination, how far it got, what the socket holds.
    private func stallDetail(_ entry: HeldPublish, waited: Duration) -> String {
        let queued = connection.sendRoom.map { "\(connection.sendCapacity - $0)" } ?? "unknown"
        guard let message = entry.messages.first else { return "an empty publish on channel \(entry.channel)" }
        let target = message.exchange.isEmpty ? "queue '\(message.routingKey)'" : "exchange '\(message.exchange)'"
        let progress =
            entry.bodyBytesSent.map { "\($0) of its \(message.body.count) body bytes written" }
            ?? "none of its \(message.body.count) body bytes written"
        return "a \(message.body.count)-byte message to \(target) on channel \(entry.channel) (\(entry.messages.count)"
            + " message(s) in this publish, \(flow.held.count) publish(es) held): \(progress), nothing more for"
            + " \(waited); \(queued) bytes queued unsent in the socket; the broker did not block this connection"
            + " (no connection.blocked)"
    }
}
