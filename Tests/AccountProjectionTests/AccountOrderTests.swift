import TestSupport
import Testing

@testable import AccountProjection

/// Ids of varied lengths, sharing long prefixes (past the 16 bytes the sort keys on) and
/// holding multi-byte characters, so that every comparison path is taken.
private func randomID(_ generator: inout SplitMix64) -> String {
    let prefixes = ["acc-", "acc-0000000000000000-", "b", "Z", "é-", "acc-00000000000000001"]
    let prefix = prefixes[Int(generator.next() % UInt64(prefixes.count))]
    return prefix + String(generator.next() % 100_000)
}

private func byteOrder(_ a: String, _ b: String) -> Bool {
    Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
}

@Suite("Account order")
struct AccountOrderTests {
    @Test func listingPagesMatchAByteSortAcrossInterleavedInsertsMergesAndPages() {
        var table = AccountTable()
        var order = AccountOrder()
        var model: [String] = []
        var generator = SplitMix64(seed: 11)
        for step in 0..<6_000 {
            let id = randomID(&generator)
            let before = table.count
            let index = table.findOrInsert(id)
            if table.count > before {
                order.insert(Int32(index))
                model.append(id)
            }
            if generator.next() % 97 == 0 || step == 5_999 {
                order.mergeUnsorted(table)
                #expect(order.unsorted.isEmpty)
                let expected = model.sorted(by: byteOrder)
                #expect(order.sorted.map { table[Int($0)].id } == expected)
                // A page after a random id (present or not) holds the next ids in order.
                let after = generator.next() % 2 == 0 ? randomID(&generator) : expected.randomElement()
                let limit = Int(generator.next() % 50)
                let page = order.page(after: after, limit: limit, table)
                let following = expected.filter { after == nil || byteOrder(after!, $0) }
                #expect(page.indices.map { table[Int($0)].id } == Array(following.prefix(limit)))
                #expect(page.hasMore == (following.count > limit))
            }
        }
        #expect(order.count == model.count)
    }

    @Test func mergedSortsFewOrManyNewIdsIntoTheRun() {
        for newCount in [0, 1, 3, 500, 5_000] {
            var table = AccountTable()
            var generator = SplitMix64(seed: UInt64(newCount) + 1)
            var runOrder = AccountOrder()
            while table.count < 3_000 {
                let before = table.count
                let index = table.findOrInsert(randomID(&generator))
                if table.count > before { runOrder.insert(Int32(index)) }
            }
            runOrder.mergeUnsorted(table)
            var new: [Int32] = []
            while new.count < newCount {
                let before = table.count
                let index = table.findOrInsert("n" + randomID(&generator))
                if table.count > before { new.append(Int32(index)) }
            }
            let merged = AccountOrder.merged(runOrder.sorted, new[...], table)
            let ids = merged.map { table[Int($0)].id }
            #expect(ids.count == 3_000 + newCount)
            #expect(ids == ids.sorted(by: byteOrder), "with \(newCount) new ids")
            #expect(Set(merged).count == merged.count)
        }
    }

    @Test func aMergeBuiltFromAnOlderRunIsNotInstalled() {
        var table = AccountTable()
        var order = AccountOrder()
        for id in ["c", "a", "b"] { order.insert(Int32(table.findOrInsert(id))) }
        let copy = order
        let stale = AccountOrder.merged(copy.sorted, copy.unsorted[...], table)
        order.mergeUnsorted(table)  // a listing got there first
        order.insert(Int32(table.findOrInsert("0")))
        let installed = order.install(stale, builtFrom: copy.version, taken: 3)
        #expect(!installed)
        #expect(order.unsorted.count == 1)
        order.mergeUnsorted(table)
        #expect(order.sorted.map { table[Int($0)].id } == ["0", "a", "b", "c"])
    }

    @Test func anInstalledMergeKeepsTheIdsOpenedAfterItsCopy() {
        var table = AccountTable()
        var order = AccountOrder()
        for id in ["c", "a", "b"] { order.insert(Int32(table.findOrInsert(id))) }
        let copy = order
        let merged = AccountOrder.merged(copy.sorted, copy.unsorted[...], table)
        order.insert(Int32(table.findOrInsert("0")))
        let installed = order.install(merged, builtFrom: copy.version, taken: 3)
        #expect(installed)
        #expect(order.sorted.map { table[Int($0)].id } == ["a", "b", "c"])
        #expect(order.unsorted.map { table[Int($0)].id } == ["0"])
    }

    @Test func recordsSpanChunksAndKeepCurrencyAndPhaseApart() {
        #expect(MemoryLayout<AccountRecord>.stride == 88)
        var table = AccountTable()
        let total = AccountTable.chunkSize * 2 + 5
        for n in 0..<total { _ = table.findOrInsert("id-\(n)") }
        #expect(table.recordCount == total)
        for n in stride(from: 0, to: total, by: 997) {
            #expect(table.find("id-\(n)").map { table[$0].id } == "id-\(n)")
        }
        let last = table.find("id-\(total - 1)")!
        table[last].currency = AccountRecord.packCurrency("EUR")
        table[last].phase = .closed
        table[last].currency = AccountRecord.packCurrency("USD")
        #expect(table[last].phase == .closed)
        #expect(AccountRecord.currencyString(table[last].currency) == "USD")
        table[last].phase = .open
        #expect(AccountRecord.currencyString(table[last].currency) == "USD")
    }
}
