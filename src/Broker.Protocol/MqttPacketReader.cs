using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Broker.Protocol.Codec;

namespace Broker.Protocol;

/// <summary>
/// Frames and decodes MQTT 3.1, 3.1.1 and 5.0 control packets.
/// </summary>
/// <remarks>
/// Framing reads the fixed header (at most 5 bytes) first: the packet type and flags are checked as soon as the
/// first byte is there, and the declared size against the limit as soon as the Remaining Length is complete, so a
/// peer cannot make the broker buffer a body it would refuse anyway. The body is then decoded from one span: the
/// segment itself when the packet lies in one segment (the common case), else a pooled copy. Every field read is
/// bounds-checked (<see cref="WireReader"/>), so any input ends in a packet, "need more bytes", or an
/// <see cref="MqttProtocolException"/>. Decoded packets own their data (strings and arrays are copied out).
/// </remarks>
public static partial class MqttPacketReader
{
    /// <summary>The largest Remaining Length a 4-byte Variable Byte Integer can hold (1.5.5).</summary>
    internal const int MaxRemainingLength = 268_435_455;

    /// <summary>
    /// Frames and decodes one packet at the start of <paramref name="buffer"/>. Returns false, leaving the buffer
    /// unchanged, when the buffer does not yet hold the whole packet; on success sets <paramref name="packet"/> and
    /// advances <paramref name="buffer"/> past it.
    /// </summary>
    /// <param name="buffer">Received bytes.</param>
    /// <param name="version">The connection's protocol version; <see cref="MqttProtocolVersion.Unknown"/> before CONNECT.</param>
    /// <param name="maxPacketSize">Largest acceptable packet, fixed header included; 0 or less means no limit but the protocol's.</param>
    /// <param name="packet">The decoded packet.</param>
    /// <exception cref="MqttProtocolException">The input breaks a rule of the spec; the connection must be closed.</exception>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, MqttProtocolVersion version, int maxPacketSize,
        [NotNullWhen(true)] out MqttPacket? packet)
    {
        var none = default(TopicMemo);
        return TryRead(ref buffer, version, maxPacketSize, ref none, out packet, remember: false);
    }

    /// <summary>
    /// <see cref="TryRead(ref ReadOnlySequence{byte}, MqttProtocolVersion, int, out MqttPacket?)"/> for a connection
    /// that keeps the topic of its last PUBLISH in <paramref name="lastTopic"/>: a PUBLISH to the same topic again
    /// gets the same string without checking and decoding the same bytes again.
    /// </summary>
    /// <param name="buffer">Received bytes.</param>
    /// <param name="version">The connection's protocol version; <see cref="MqttProtocolVersion.Unknown"/> before CONNECT.</param>
    /// <param name="maxPacketSize">Largest acceptable packet, fixed header included; 0 or less means no limit but the protocol's.</param>
    /// <param name="lastTopic">The connection's memo of its last PUBLISH topic.</param>
    /// <param name="packet">The decoded packet.</param>
    /// <exception cref="MqttProtocolException">The input breaks a rule of the spec; the connection must be closed.</exception>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, MqttProtocolVersion version, int maxPacketSize,
        ref TopicMemo lastTopic, [NotNullWhen(true)] out MqttPacket? packet) =>
        TryRead(ref buffer, version, maxPacketSize, ref lastTopic, out packet, remember: true);

    private static bool TryRead(ref ReadOnlySequence<byte> buffer, MqttProtocolVersion version, int maxPacketSize,
        ref TopicMemo lastTopic, [NotNullWhen(true)] out MqttPacket? packet, bool remember)
    {
        packet = null;
        var first = buffer.FirstSpan;
        Span<byte> copy = stackalloc byte[5];
        scoped ReadOnlySpan<byte> header;
        if (first.Length >= 5 || buffer.IsSingleSegment)
        {
            header = first;
        }
        else
        {
            var available = (int)Math.Min(buffer.Length, 5);
            buffer.Slice(0, available).CopyTo(copy);
            header = copy[..available];
        }
        if (header.IsEmpty)
            return false;

        var firstByte = header[0];
        CheckFirstByte(firstByte, version);

        var remainingLength = 0;
        var headerLength = 0;
        for (var i = 1; i <= 4; i++)
        {
            if (i >= header.Length)
                return false;
            var b = header[i];
            remainingLength |= (b & 0x7F) << (7 * (i - 1));
            if ((b & 0x80) == 0)
            {
                headerLength = i + 1;
                break;
            }
        }
        if (headerLength == 0)
            CodecErrors.Malformed("Remaining Length longer than 4 bytes (2.1.3 / 2.2.3)");

        var total = headerLength + remainingLength;
        if (maxPacketSize > 0 && total > maxPacketSize)
            CodecErrors.Throw(MqttReasonCode.PacketTooLarge,
                $"packet of {total} bytes exceeds the maximum packet size {maxPacketSize}");
        if (buffer.Length < total)
            return false;

        if (first.Length >= total)
        {
            packet = Decode(firstByte, first.Slice(headerLength, remainingLength), version, ref lastTopic, remember);
        }
        else
        {
            var rented = ArrayPool<byte>.Shared.Rent(remainingLength);
            try
            {
                var body = rented.AsSpan(0, remainingLength);
                buffer.Slice(headerLength, remainingLength).CopyTo(body);
                packet = Decode(firstByte, body, version, ref lastTopic, remember);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
        buffer = buffer.Slice(total);
        return true;
    }

    /// <summary>Packet type and fixed-header flags (2.1.2 / 2.2.2), checked before any body is awaited.</summary>
    private static void CheckFirstByte(byte firstByte, MqttProtocolVersion version)
    {
        var type = firstByte >> 4;
        var flags = firstByte & 0x0F;
        if (type == 0)
            CodecErrors.Malformed("packet type 0 is reserved");
        if (version == MqttProtocolVersion.Unknown)
        {
            if (type != (int)MqttPacketType.Connect)
                CodecErrors.ProtocolError("the first packet must be CONNECT [MQTT-3.1.0-1]");
        }
        else
        {
            if (type == (int)MqttPacketType.Connect)
                CodecErrors.ProtocolError("second CONNECT [MQTT-3.1.0-2]");
            if (type == (int)MqttPacketType.Auth && version != MqttProtocolVersion.V500)
                CodecErrors.Malformed("packet type 15 is reserved before MQTT 5");
        }
        switch ((MqttPacketType)type)
        {
            case MqttPacketType.Publish:
                return;
            case MqttPacketType.PubRel:
            case MqttPacketType.Subscribe:
            case MqttPacketType.Unsubscribe:
                // MQTT 3.1 let clients set DUP on these retries; 3.1.1 and 5.0 fix the flags to 0010.
                if (flags == 0b0010 || (version == MqttProtocolVersion.V310 && flags == 0b1010))
                    return;
                CodecErrors.Malformed($"reserved fixed-header flags of {(MqttPacketType)type} must be 0010 " +
                    "[MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]");
                return;
            default:
                if (flags != 0)
                    CodecErrors.Malformed($"reserved fixed-header flags of {(MqttPacketType)type} must be 0 [MQTT-2.2.2-1]");
                return;
        }
    }

    private static MqttPacket Decode(byte firstByte, ReadOnlySpan<byte> body, MqttProtocolVersion version,
        ref TopicMemo lastTopic, bool remember)
    {
        var reader = new WireReader(body);
        var flags = firstByte & 0x0F;
        MqttPacket packet = (MqttPacketType)(firstByte >> 4) switch
        {
            MqttPacketType.Connect => ReadConnect(ref reader),
            MqttPacketType.ConnAck => ReadConnAck(ref reader, version),
            MqttPacketType.Publish => ReadPublish(ref reader, flags, version, ref lastTopic, remember),
            MqttPacketType.PubAck => ReadAck(ref reader, MqttPacketType.PubAck, version),
            MqttPacketType.PubRec => ReadAck(ref reader, MqttPacketType.PubRec, version),
            MqttPacketType.PubRel => ReadAck(ref reader, MqttPacketType.PubRel, version),
            MqttPacketType.PubComp => ReadAck(ref reader, MqttPacketType.PubComp, version),
            MqttPacketType.Subscribe => ReadSubscribe(ref reader, version),
            MqttPacketType.SubAck => ReadSubAck(ref reader, version),
            MqttPacketType.Unsubscribe => ReadUnsubscribe(ref reader, version),
            MqttPacketType.UnsubAck => ReadUnsubAck(ref reader, version),
            MqttPacketType.PingReq => MqttPingReqPacket.Instance,
            MqttPacketType.PingResp => MqttPingRespPacket.Instance,
            MqttPacketType.Disconnect => ReadDisconnect(ref reader, version),
            _ => ReadAuth(ref reader),
        };
        if (!reader.End)
            CodecErrors.Malformed($"{packet.Type} has {reader.Remaining} bytes after its last field");
        return packet;
    }
}
