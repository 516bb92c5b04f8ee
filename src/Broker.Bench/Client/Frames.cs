using System.Buffers.Binary;
using System.Text;

namespace Broker.Bench.Client;

/// <summary>
/// The zero-allocation fast path for the packets a run sends and receives by the thousand: PUBLISH and the four
/// QoS acks, encoded straight into a connection's send buffer and decoded in place (MQTT 3.1.1 §3.3–3.7, MQTT 5
/// §3.3–3.7). Everything else (CONNECT, SUBSCRIBE, CONNACK, SUBACK) goes through <c>Broker.Protocol</c>.
/// </summary>
internal static class Frames
{
    public const byte PubAck = 0x40;
    public const byte PubRec = 0x50;
    public const byte PubRel = 0x62;
    public const byte PubComp = 0x70;

    /// <summary>Total bytes of a PUBLISH without properties; <paramref name="remaining"/> is its Remaining Length.</summary>
    public static int PublishSize(int topicLength, int payloadLength, int qos, bool v5, out int remaining)
    {
        remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payloadLength;
        return 1 + VariableByteIntegerSize(remaining) + remaining;
    }

    public static int VariableByteIntegerSize(int value) =>
        value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;

    /// <summary>
    /// Writes one PUBLISH into <paramref name="destination"/> and returns the offset of its payload, so the caller
    /// stamps the payload in place (<see cref="BenchPayload.Stamp"/>). The payload bytes past the stamp are left as the
    /// buffer holds them.
    /// </summary>
    public static int WritePublishHeader(Span<byte> destination, ReadOnlySpan<byte> topic, int qos, ushort packetId, bool v5, int remaining)
    {
        destination[0] = (byte)(0x30 | (qos << 1));
        var position = 1 + WriteVariableByteInteger(destination[1..], remaining);
        BinaryPrimitives.WriteUInt16BigEndian(destination[position..], (ushort)topic.Length);
        position += 2;
        topic.CopyTo(destination[position..]);
        position += topic.Length;
        if (qos > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[position..], packetId);
            position += 2;
        }
        if (v5)
            destination[position++] = 0; // no properties
        return position;
    }

    /// <summary>Writes a 4-byte PUBACK, PUBREC, PUBREL or PUBCOMP (the 3.1.1 form, which MQTT 5 reads as Success).</summary>
    public static void WriteAck(Span<byte> destination, byte firstByte, ushort packetId)
    {
        destination[0] = firstByte;
        destination[1] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], packetId);
    }

    public static int WriteVariableByteInteger(Span<byte> destination, int value)
    {
        var i = 0;
        do
        {
            var digit = (byte)(value & 0x7F);
            value >>= 7;
            if (value > 0)
                digit |= 0x80;
            destination[i++] = digit;
        }
        while (value > 0);
        return i;
    }

    /// <summary>Reads a Variable Byte Integer; false when <paramref name="source"/> ends first or it is malformed
    /// (<paramref name="length"/> is then 0 for "need more", -1 for malformed).</summary>
    public static bool TryReadVariableByteInteger(ReadOnlySpan<byte> source, out int value, out int length)
    {
        value = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i >= source.Length)
            {
                length = 0;
                return false;
            }
            var b = source[i];
            value |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                length = i + 1;
                return true;
            }
        }
        length = -1;
        return false;
    }

    /// <summary>Splits a PUBLISH body (after the fixed header) into packet id and payload.</summary>
    public static bool TryParsePublish(ReadOnlySpan<byte> body, int qos, bool v5, out ushort packetId, out ReadOnlySpan<byte> payload)
    {
        packetId = 0;
        payload = default;
        if (body.Length < 2)
            return false;
        var position = 2 + BinaryPrimitives.ReadUInt16BigEndian(body);
        if (qos > 0)
        {
            if (body.Length < position + 2)
                return false;
            packetId = BinaryPrimitives.ReadUInt16BigEndian(body[position..]);
            position += 2;
        }
        if (v5)
        {
            if (!TryReadVariableByteInteger(body[Math.Min(position, body.Length)..], out var propertiesLength, out var length))
                return false;
            position += length + propertiesLength;
        }
        if (position > body.Length)
            return false;
        payload = body[position..];
        return true;
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}

/// <summary>
/// The first <see cref="Size"/> bytes of every payload a run sends: a magic number naming the run (so stray messages
/// from other clients are not counted), the publisher's index, its sequence number (0, 1, 2, ... per publisher) and
/// the send time in <see cref="System.Diagnostics.Stopwatch"/> ticks of this process. Little-endian.
/// </summary>
internal static class BenchPayload
{
    public const int Size = 24;

    public static void Stamp(Span<byte> payload, uint magic, int publisher, long sequence, long timestamp)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(payload, magic);
        BinaryPrimitives.WriteInt32LittleEndian(payload[4..], publisher);
        BinaryPrimitives.WriteInt64LittleEndian(payload[8..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(payload[16..], timestamp);
    }

    public static bool TryRead(ReadOnlySpan<byte> payload, uint magic, out int publisher, out long sequence, out long timestamp)
    {
        publisher = 0;
        sequence = 0;
        timestamp = 0;
        if (payload.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(payload) != magic)
            return false;
        publisher = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        sequence = BinaryPrimitives.ReadInt64LittleEndian(payload[8..]);
        timestamp = BinaryPrimitives.ReadInt64LittleEndian(payload[16..]);
        return true;
    }
}
