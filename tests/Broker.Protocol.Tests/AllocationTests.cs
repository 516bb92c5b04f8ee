using System.Buffers;

namespace Broker.Protocol.Tests;

/// <summary>The hot path's allocation budget: PUBLISH decode allocates the packet, topic and payload only; encode nothing.</summary>
public sealed class AllocationTests
{
    [Fact]
    public void TryRead_Publish_AllocatesOnlyPacketTopicAndPayload()
    {
        var bytes = TestBuffers.Encode(new MqttPublishPacket
        {
            Topic = "sensors/room1/temperature",
            Qos = MqttQos.AtLeastOnce,
            PacketId = 7,
            Payload = new byte[64],
        }, MqttProtocolVersion.V311);
        ReadOnlySequence<byte> buffer;
        for (var i = 0; i < 100; i++)
        {
            buffer = new ReadOnlySequence<byte>(bytes);
            MqttPacketReader.TryRead(ref buffer, MqttProtocolVersion.V311, 0, out _);
        }
        const int Iterations = 1000;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Iterations; i++)
        {
            buffer = new ReadOnlySequence<byte>(bytes);
            MqttPacketReader.TryRead(ref buffer, MqttProtocolVersion.V311, 0, out _);
        }
        var perPacket = (GC.GetAllocatedBytesForCurrentThread() - before) / Iterations;
        // packet object (~100 B) + 25-char string (~80 B) + 64-byte array (~90 B)
        Assert.True(perPacket <= 320, $"{perPacket} bytes per PUBLISH decode");
    }

    [Fact]
    public void Write_Publish_AllocatesNothing()
    {
        var packet = new MqttPublishPacket
        {
            Topic = "sensors/room1/temperature",
            Qos = MqttQos.AtLeastOnce,
            PacketId = 7,
            Payload = new byte[64],
            MessageExpiryInterval = 30,
            SubscriptionIdentifiers = [1, 2],
            Properties = new() { ContentType = "text/plain", UserProperties = [new("a", "b")] },
        };
        var output = new ArrayBufferWriter<byte>(4096);
        for (var i = 0; i < 100; i++)
        {
            output.ResetWrittenCount();
            MqttPacketWriter.Write(output, packet, MqttProtocolVersion.V500);
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            output.ResetWrittenCount();
            MqttPacketWriter.Write(output, packet, MqttProtocolVersion.V500);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
