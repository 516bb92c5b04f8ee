using Broker.Abstractions;
using Broker.Cluster;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Server.Tests.Cluster;

/// <summary>
/// Numbered forwards in batches and their acknowledgements (<see cref="ForwardBatch"/>, <see cref="ForwardAck"/>): what
/// lets a node send again what NATS lost, and the receiver keep one publisher's messages in order, each once.
/// </summary>
public sealed class ForwardBatchTests
{
    private static readonly BrokerMessage Message = ForwardCodecTests.Message;

    [Fact]
    public void Write_ThenRead_GivesTheNumbersTheSenderAndEachForwardBack()
    {
        var plain = ForwardCodec.Encode(Message);
        var scoped = ForwardCodec.Encode(Message with { Topic = "s/2" }, false, [("g", "s/#")]);
        var big = ForwardCodec.Encode(Message with { Topic = "s/3", Payload = new byte[70_000] });
        var data = ForwardBatch.Write(300_000_000_001, 299_999_999_990, "a_127_0_0_1-0badf00d", "B00T", [plain, scoped, big]);

        var header = ForwardBatch.ReadHeader(data, out var offset);
        Assert.Equal(new ForwardBatch.Header(300_000_000_001, 299_999_999_990, "a_127_0_0_1-0badf00d", "B00T", 3), header);
        var first = ForwardCodec.Decode(ForwardBatch.Next(data, ref offset), out var firstScope);
        var second = ForwardCodec.Decode(ForwardBatch.Next(data, ref offset), out var secondScope);
        var third = ForwardCodec.Decode(ForwardBatch.Next(data, ref offset), out _);
        Assert.Equal(data.Length, offset);
        Assert.Equal(("s/1", true), (first.Topic, firstScope.Ordinary));
        Assert.Equal(("s/2", false), (second.Topic, secondScope.Ordinary));
        Assert.Equal(("s/3", 70_000), (third.Topic, third.Payload.Length));
    }

    [Fact]
    public void ReadHeader_AForwardOfTheVersionBeforeBatches_IsRefusedSayingSo()
    {
        var unnumbered = ForwardCodec.Encode(Message);
        var ex = Assert.Throws<InvalidDataException>(() => ForwardBatch.ReadHeader(unnumbered, out _));
        Assert.Contains("same version", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_CutShort_Throws()
    {
        var data = ForwardBatch.Write(1, 1, "a", "boot", [ForwardCodec.Encode(Message)]);
        Assert.Throws<EndOfStreamException>(() => ForwardBatch.ReadHeader(data[..4], out _));
        ForwardBatch.ReadHeader(data, out var offset);
        var cut = data[..^3];
        Assert.Throws<EndOfStreamException>(() => ForwardBatch.Next(cut, ref offset));
    }

    [Theory]
    [InlineData(0, 0, false)]
    [InlineData(41, 41, true)]
    [InlineData(41, 57, false)] // an acknowledgement held back while later forwards arrived
    public void Ack_RoundTrips(long acked, long received, bool gap)
    {
        var data = ForwardAck.Encode("b_127_0_0_1-12345678", "B00T", acked, received, gap);

        Assert.True(ForwardAck.TryDecode(data, out var decoded));
        Assert.Equal(("b_127_0_0_1-12345678", "B00T", acked, received, gap),
            (decoded.ReceiverToken, decoded.SenderBoot, decoded.Acked, decoded.Received, decoded.Gap));
        Assert.False(ForwardAck.TryDecode("nonsense"u8.ToArray(), out _));
        Assert.False(ForwardAck.TryDecode(ForwardAck.Encode("r", "b", 5, 4, false), out _)); // received before acknowledged
    }
}
