import Testing

@testable import JSON

@Suite("Byte helpers")
struct ByteHelperTests {
    @Test("bytesEqual: every length up to 20, one byte changed at every place, one byte more or less")
    func bytesEqualSeesEveryByte() {
        for count in 0...20 {
            let a = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            a.withUnsafeBytes { left in
                let same = a
                same.withUnsafeBytes { #expect(bytesEqual(left, $0), "length \(count)") }
                for position in 0..<count {
                    for flip: UInt8 in [0x01, 0x80, 0xFF] {
                        var b = a
                        b[position] ^= flip
                        b.withUnsafeBytes { #expect(!bytesEqual(left, $0), "length \(count), byte \(position)") }
                    }
                }
                (a + [0]).withUnsafeBytes { #expect(!bytesEqual(left, $0)) }
                if count > 0 {
                    a.dropLast().withUnsafeBytes { #expect(!bytesEqual(left, $0)) }
                }
            }
        }
        // A slice that starts at an odd address: the loads are unaligned.
        let text = Array("xxaccountIdyy".utf8)
        text.withUnsafeBytes { all in
            let key: StaticString = "accountId"
            let name = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
            #expect(bytesEqual(UnsafeRawBufferPointer(rebasing: all[2..<11]), name))
            #expect(!bytesEqual(UnsafeRawBufferPointer(rebasing: all[1..<10]), name))
        }
    }
}
