using System.Buffers;

namespace Broker.Protocol.Tests;

/// <summary>
/// A connection's memo of its last PUBLISH topic (<see cref="TopicMemo"/>): the same topic again gets the same string
/// without being decoded again; anything else is checked and decoded as without the memo.
/// </summary>
public sealed class TopicMemoTests
{
    private TopicMemo _memo;

    private static byte[] Publish(byte[] topic, params byte[] payload) => Wire.Packet(0x30, [Wire.Bin(topic), payload]);

    private static byte[] Publish(string topic) => Wire.Packet(0x30, [Wire.Str(topic), Wire.B(1, 2, 3)]);

    private MqttPublishPacket Read(byte[] bytes)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(MqttPacketReader.TryRead(ref buffer, MqttProtocolVersion.V311, 0, ref _memo, out var packet));
        Assert.True(buffer.IsEmpty);
        return Assert.IsType<MqttPublishPacket>(packet);
    }

    [Fact]
    public void SameTopicAgain_GetsTheSameString()
    {
        var first = Read(Publish("sensors/room1/temperature"));
        var second = Read(Publish("sensors/room1/temperature"));

        Assert.Equal("sensors/room1/temperature", second.Topic);
        Assert.Same(first.Topic, second.Topic);
        Assert.Equal(new byte[] { 1, 2, 3 }, second.Payload.ToArray());
    }

    [Theory]
    [InlineData("a/b", "a/c")]
    [InlineData("a/b", "a/b/c")]  // longer, same start
    [InlineData("a/b/c", "a/b")]  // shorter, same start
    [InlineData("a/b", "A/b")]
    [InlineData("a/b", "a/ü")]
    public void AnotherTopic_IsDecoded(string before, string after)
    {
        Read(Publish(before));

        Assert.Equal(after, Read(Publish(after)).Topic);
        Assert.Equal(before, Read(Publish(before)).Topic);
    }

    [Theory]
    [InlineData("a/+")]
    [InlineData("a/b/#")]
    public void WildcardTopicAfterAValidOne_IsStillMalformed(string topic)
    {
        Read(Publish("a/b"));

        var e = Assert.Throws<MqttProtocolException>(() => Read(Publish(topic)));
        Assert.Contains("MQTT-3.3.2-2", e.Message);
    }

    [Fact]
    public void IllFormedUtf8AfterAValidTopic_IsStillMalformed()
    {
        Read(Publish("a/b"));

        var e = Assert.Throws<MqttProtocolException>(() => Read(Publish([(byte)'a', (byte)'/', 0xC3])));
        Assert.Contains("MQTT-1.5.4-1", e.Message);
    }

    [Fact]
    public void SameTopicAgain_AllocatesNoString()
    {
        var bytes = Publish("sensors/room1/temperature");
        for (var i = 0; i < 100; i++)
            Read(bytes);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
            Read(bytes);
        var withMemo = (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;

        before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            MqttPacketReader.TryRead(ref buffer, MqttProtocolVersion.V311, 0, out _);
        }
        var withoutMemo = (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;

        // The 25-character string is 72 bytes on a 64-bit runtime.
        Assert.True(withoutMemo - withMemo >= 72, $"{withMemo} bytes per PUBLISH with the memo, {withoutMemo} without");
    }
}
