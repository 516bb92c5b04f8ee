using System.Buffers.Binary;
using System.Text;

namespace Broker.StoreBench;

/// <summary>
/// The broker's records. A message key is 16 bytes: the session's id hash, then its sequence number, both big-endian
/// so one session's messages sort together and in order. Its value stands for topic + payload + a few properties.
/// A session key is 0xFF + the client id, which sorts after every message key (hashes keep their top byte below 0xFF).
/// </summary>
internal sealed class Records
{
    public const int KeySize = 16;
    private const int MinValue = 100;
    private const int MaxValue = 300;
    private const int Spread = 8 << 20;
    private readonly byte[] _bytes;
    private readonly int _fixedValueSize;

    /// <param name="fixedValueSize">0: values of 100–300 bytes; otherwise every value has this size.</param>
    public Records(int fixedValueSize)
    {
        _fixedValueSize = fixedValueSize;
        // Random content, and no two values in a few thousand alike: RocksDB compresses its blocks (Snappy), and values
        // cut from one small buffer at nearby offsets made it look several times smaller on disk than it is.
        _bytes = new byte[Spread + Math.Max(fixedValueSize, MaxValue)];
        new Random(23).NextBytes(_bytes);
    }

    private static ulong SessionHash(long session) => ((ulong)session * 0x9E3779B97F4A7C15UL) >> 8;

    public static byte[] MessageKey(long session, long sequence)
    {
        var key = new byte[KeySize];
        BinaryPrimitives.WriteUInt64BigEndian(key, SessionHash(session));
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(8), (ulong)sequence);
        return key;
    }

    public ReadOnlyMemory<byte> MessageValue(long n)
    {
        var length = _fixedValueSize > 0 ? _fixedValueSize : MinValue + (int)(n * 7919 % (MaxValue - MinValue + 1));
        return _bytes.AsMemory((int)(n * 4099 % Spread), length);
    }

    public static byte[] SessionKey(long session) => [0xFF, .. Encoding.ASCII.GetBytes($"client-{session:D8}")];

    /// <summary>Subscriptions and expiry, roughly as the broker would serialise them.</summary>
    public static byte[] SessionValue(long session) =>
        Encoding.UTF8.GetBytes($"expiry=3600;subs=devices/{session}/cmd/#:1,fleet/+/broadcast:0");
}
