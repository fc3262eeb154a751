import AccountHistory
import ArgumentParser

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the generated event history as JSONL, without a broker.",
        discussion: """
            One event body a line, exactly as `accountctl publish` with the same flags sends it: \
            M events over N accounts, each account opened first (sequence 1), then deposits (55 %), \
            withdrawals (35 %, balances may go negative) and renames (10 %); about 5 % of the accounts \
            end with AccountClosed. Histories are interleaved at random, each in sequence order; \
            occurredAt advances 250 ms per event from 2026-11-24T15:00:00.000Z. The same flags give \
            the same bytes on any machine.

            \(Exit.helpText)
            """)

    @OptionGroup var generator: GeneratorOptions

    @Option(
        help: ArgumentHelp("Write to this file instead of standard output; - for standard output", valueName: "path"))
    var out: String?

    func run() throws {
        let output = try OutputFile(path: out)
        for event in generator.generator {
            try output.write(event.body)
            try output.write(byte: UInt8(ascii: "\n"))
        }
        try output.close()
    }
}
