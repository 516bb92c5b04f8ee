using Broker.Abstractions;
using Broker.Cluster;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Server.Tests.Cluster;

/// <summary>
/// Numbered forwards and their acknowledgements (<see cref="ForwardEnvelope"/>, <see cref="ForwardAck"/>): what lets
/// a node send again what NATS lost, and the receiver keep one publisher's messages in order, each once.
/// </summary>
public sealed class ForwardEnvelopeTests
{
    private static readonly BrokerMessage Message = new()
    {
        Topic = "s/1",
        Payload = "42"u8.ToArray(),
        Qos = MqttQos.AtLeastOnce,
        PublisherId = "pub",
        Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Wrap_ThenUnwrap_GivesTheNumbersTheSenderAndTheForwardBack(bool withGroups)
    {
        var body = withGroups ? ForwardCodec.Encode(Message, false, [("g", "s/#")]) : ForwardCodec.Encode(Message);
        var data = ForwardEnvelope.Wrap(300_000_000_001, 299_999_999_990, "a_127_0_0_1-0badf00d", "B00T", body);

        Assert.True(ForwardEnvelope.TryUnwrap(data, out var header, out var offset));
        Assert.Equal(new ForwardEnvelope.Header(300_000_000_001, 299_999_999_990, "a_127_0_0_1-0badf00d", "B00T"), header);
        var decoded = ForwardCodec.Decode(data, offset, out var scope);
        Assert.Equal(Message.Topic, decoded.Topic);
        Assert.Equal(Message.Payload.ToArray(), decoded.Payload.ToArray());
        Assert.Equal(!withGroups, scope.Ordinary);
    }

    [Fact]
    public void Unwrap_AnUnnumberedForward_SaysSo_AndItStillDecodes()
    {
        var data = ForwardCodec.Encode(Message);

        Assert.False(ForwardEnvelope.TryUnwrap(data, out _, out var offset));
        Assert.Equal(0, offset);
        Assert.Equal("s/1", ForwardCodec.Decode(data, offset, out _).Topic);
    }

    [Fact]
    public void Unwrap_CutShort_Throws()
    {
        var data = ForwardEnvelope.Wrap(1, 1, "a", "boot", ForwardCodec.Encode(Message));
        Assert.Throws<EndOfStreamException>(() => ForwardEnvelope.TryUnwrap(data[..4], out _, out _));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(41, true)]
    public void Ack_RoundTrips(long acked, bool gap)
    {
        var data = ForwardAck.Encode("b_127_0_0_1-12345678", "B00T", acked, gap);

        Assert.True(ForwardAck.TryDecode(data, out var receiver, out var boot, out var decodedAcked, out var decodedGap));
        Assert.Equal(("b_127_0_0_1-12345678", "B00T", acked, gap), (receiver, boot, decodedAcked, decodedGap));
        Assert.False(ForwardAck.TryDecode("nonsense"u8.ToArray(), out _, out _, out _, out _));
    }
}
