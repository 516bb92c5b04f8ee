using System.Buffers;
using Broker.Bench.Client;
using Broker.Protocol;

namespace Broker.Bench.Tests.Client;

/// <summary>The bench's PUBLISH/ack fast path against the broker's codec (the reference).</summary>
public sealed class FramesTests
{
    public static TheoryData<MqttProtocolVersion, int> Cases() => new()
    {
        { MqttProtocolVersion.V311, 0 }, { MqttProtocolVersion.V311, 1 }, { MqttProtocolVersion.V311, 2 },
        { MqttProtocolVersion.V500, 0 }, { MqttProtocolVersion.V500, 1 }, { MqttProtocolVersion.V500, 2 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void WritePublishHeader_ThenCodecReads_SameTopicIdAndStamp(MqttProtocolVersion version, int qos)
    {
        var v5 = version == MqttProtocolVersion.V500;
        var topic = "bench/abc/fanin/7"u8.ToArray();
        foreach (var size in new[] { 24, 64, 200, 20_000 })
        {
            var total = Frames.PublishSize(topic.Length, size, qos, v5, out var remaining);
            var buffer = new byte[total];
            var payloadOffset = Frames.WritePublishHeader(buffer, topic, qos, 4711, v5, remaining);
            BenchPayload.Stamp(buffer.AsSpan(payloadOffset), 99, 7, 123_456, 987_654_321);

            var sequence = new ReadOnlySequence<byte>(buffer);
            Assert.True(MqttPacketReader.TryRead(ref sequence, version, 0, out var packet));
            Assert.True(sequence.IsEmpty);
            var publish = Assert.IsType<MqttPublishPacket>(packet);
            Assert.Equal("bench/abc/fanin/7", publish.Topic);
            Assert.Equal((MqttQos)qos, publish.Qos);
            Assert.Equal(qos > 0 ? 4711 : 0, publish.PacketId);
            Assert.Equal(size, publish.Payload.Length);
            Assert.True(BenchPayload.TryRead(publish.Payload.Span, 99, out var publisher, out var seq, out var sentAt));
            Assert.Equal((7, 123_456L, 987_654_321L), (publisher, seq, sentAt));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TryParsePublish_CodecEncodedWithProperties_FindsIdAndPayload(MqttProtocolVersion version, int qos)
    {
        // Brokers add properties on the way out (MQTT 5: subscription identifiers, expiry, user properties).
        var payload = new byte[40];
        BenchPayload.Stamp(payload, 1, 2, 3, 4);
        var packet = new MqttPublishPacket
        {
            Topic = "a/b",
            Qos = (MqttQos)qos,
            PacketId = qos > 0 ? (ushort)321 : (ushort)0,
            Payload = payload,
            SubscriptionIdentifiers = [5, 300],
            MessageExpiryInterval = 60,
            Properties = new MessageProperties { UserProperties = [new MqttUserProperty("k", "v")] },
        };
        var writer = new ArrayBufferWriter<byte>();
        MqttPacketWriter.Write(writer, packet, version);
        var bytes = writer.WrittenSpan;
        Assert.True(Frames.TryReadVariableByteInteger(bytes[1..], out var remainingLength, out var lengthSize));
        var body = bytes.Slice(1 + lengthSize, remainingLength);

        Assert.True(Frames.TryParsePublish(body, qos, version == MqttProtocolVersion.V500, out var packetId, out var parsed));
        Assert.Equal(packet.PacketId, packetId);
        Assert.True(parsed.SequenceEqual(payload));
    }

    [Theory]
    [InlineData(Frames.PubAck, MqttPacketType.PubAck)]
    [InlineData(Frames.PubRec, MqttPacketType.PubRec)]
    [InlineData(Frames.PubRel, MqttPacketType.PubRel)]
    [InlineData(Frames.PubComp, MqttPacketType.PubComp)]
    public void WriteAck_CodecReads_TypeAndId(byte firstByte, MqttPacketType type)
    {
        var buffer = new byte[4];
        Frames.WriteAck(buffer, firstByte, 65_535);
        foreach (var version in new[] { MqttProtocolVersion.V311, MqttProtocolVersion.V500 })
        {
            var sequence = new ReadOnlySequence<byte>(buffer);
            Assert.True(MqttPacketReader.TryRead(ref sequence, version, 0, out var packet));
            var ack = Assert.IsType<MqttAckPacket>(packet);
            Assert.Equal(type, ack.Type);
            Assert.Equal(65_535, ack.PacketId);
            Assert.Equal(MqttReasonCode.Success, ack.ReasonCode);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(16_383)]
    [InlineData(16_384)]
    [InlineData(2_097_152)]
    [InlineData(268_435_455)]
    public void VariableByteInteger_RoundTrip(int value)
    {
        var buffer = new byte[4];
        var written = Frames.WriteVariableByteInteger(buffer, value);
        Assert.Equal(Frames.VariableByteIntegerSize(value), written);
        Assert.True(Frames.TryReadVariableByteInteger(buffer.AsSpan(0, written), out var read, out var length));
        Assert.Equal((value, written), (read, length));
        Assert.False(Frames.TryReadVariableByteInteger(buffer.AsSpan(0, written - 1), out _, out var short_));
        Assert.Equal(0, short_);
    }
}
