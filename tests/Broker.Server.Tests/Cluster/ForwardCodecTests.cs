using Broker.Abstractions;
using Broker.Cluster;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Server.Tests.Cluster;

/// <summary>
/// The form of a message one node forwards to another (<see cref="ForwardCodec"/>): what the receiving node delivers
/// it to travels with it, so a share group spanning nodes gets it from one node only (issue 24, "$share groups span nodes").
/// </summary>
public sealed class ForwardCodecTests
{
    /// <summary>The message these tests and <see cref="ForwardBatchTests"/> forward.</summary>
    internal static readonly BrokerMessage Message = new()
    {
        Topic = "s/1",
        Payload = "42"u8.ToArray(),
        Qos = MqttQos.AtLeastOnce,
        PublisherId = "pub",
        Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
    };

    [Fact]
    public void Encode_OrdinaryOnly_IsTheMessageCodecAlone_AndDecodesAsOrdinaryOnly()
    {
        var data = ForwardCodec.Encode(Message);

        Assert.Equal(BrokerMessageCodec.Version, data[0]);
        var decoded = ForwardCodec.Decode(data, out var scope);
        Assert.Same(DeliveryScope.OrdinaryOnly, scope);
        Assert.Equal(Message.Topic, decoded.Topic);
        Assert.Equal(Message.Payload.ToArray(), decoded.Payload.ToArray());
        Assert.Equal(MqttQos.AtLeastOnce, decoded.Qos);
        Assert.Equal("pub", decoded.PublisherId);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Encode_WithShareGroups_CarriesThemAndWhetherOrdinarySubscribersGetIt(bool ordinary)
    {
        var data = ForwardCodec.Encode(Message, ordinary, [("g", "s/#"), ("$queue", "s/+")]);

        var decoded = ForwardCodec.Decode(data, out var scope);
        Assert.Equal(ordinary, scope.Ordinary);
        Assert.Equal([("g", "s/#"), ("$queue", "s/+")], scope.Groups);
        Assert.True(scope.Includes("g", "s/#"));
        Assert.False(scope.Includes("g", "s/+"));
        Assert.Equal(Message.Topic, decoded.Topic);
        Assert.Equal(Message.Payload.ToArray(), decoded.Payload.ToArray());
    }

    [Fact]
    public void Decode_BrokenEnvelope_Throws()
    {
        // Both are logged and skipped by the receiving node.
        var data = ForwardCodec.Encode(Message, true, [("g", "s/#")]);
        Assert.Throws<EndOfStreamException>(() => ForwardCodec.Decode(data[..4], out _)); // cut short

        data[1] = 7; // neither 0 nor 1
        Assert.Throws<InvalidDataException>(() => ForwardCodec.Decode(data, out _));
    }
}
