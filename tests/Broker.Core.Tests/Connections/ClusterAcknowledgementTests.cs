using Broker.Abstractions;
using Broker.Core.Cluster;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Connections;

/// <summary>
/// The publisher's side of QoS end to end across nodes (issue 24): a PUBACK/PUBREC waits for the other nodes a message
/// went to (<see cref="ForwardOutcome.Acknowledged"/>), in the order the PUBLISHes came [MQTT-4.6.0-2], and a node
/// that is behind (<see cref="ForwardOutcome.Behind"/>) stops the connection reading. A fake link stands for the cluster:
/// topics under <c>remote/</c> go to "another node" whose acknowledgement the test gives.
/// </summary>
public sealed class ClusterAcknowledgementTests
{
    private sealed class FakeLink : IClusterLink
    {
        public List<TaskCompletionSource> Acknowledgements { get; } = [];

        public TaskCompletionSource? Behind { get; set; }

        public void RouteAdded(string route)
        {
        }

        public void RouteRemoved(string route)
        {
        }

        public ForwardOutcome Forward(BrokerMessage message, LocalDeliveries local)
        {
            if (!message.Topic.StartsWith("remote/", StringComparison.Ordinal))
                return default;
            TaskCompletionSource? acknowledged = null;
            if (message.Qos != MqttQos.AtMostOnce)
            {
                acknowledged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (Acknowledgements)
                    Acknowledgements.Add(acknowledged);
            }
            return new ForwardOutcome(1, acknowledged?.Task, Behind?.Task);
        }

        public ValueTask<ClientClaim> ClaimClientAsync(string clientId, bool discard) => ValueTask.FromResult(new ClientClaim(false, null));

        public void SessionChanged(string clientId)
        {
        }

        public Task BansRead => Task.CompletedTask;

        public TaskCompletionSource Acknowledgement(int index)
        {
            lock (Acknowledgements)
                return Acknowledgements[index];
        }
    }

    private static MqttPublishPacket Publish(string topic, MqttQos qos, ushort packetId) => new()
    {
        Topic = topic,
        Payload = "x"u8.ToArray(),
        Qos = qos,
        PacketId = packetId,
    };

    [Theory]
    [InlineData(MqttQos.AtLeastOnce, MqttPacketType.PubAck)]
    [InlineData(MqttQos.ExactlyOnce, MqttPacketType.PubRec)]
    public async Task Publish_ForwardedToAnotherNode_AcknowledgedOnlyOnceThatNodeHasIt(MqttQos qos, MqttPacketType expected)
    {
        await using var broker = new TestBroker();
        var link = new FakeLink();
        broker.Engine.AttachCluster(link);
        var pub = await broker.ConnectAsync("pub");

        await pub.SendAsync(Publish("remote/a", qos, 1));
        await pub.AssertNothingReceivedAsync(); // read on (the PINGREQ is answered) but not acknowledged

        link.Acknowledgement(0).SetResult();

        var ack = await pub.ReceiveAsync<MqttAckPacket>();
        Assert.Equal((expected, (ushort)1, MqttReasonCode.Success), (ack.Type, ack.PacketId, ack.ReasonCode));
    }

    // [MQTT-4.6.0-2]: PUBACKs in the order the PUBLISHes were received, so one for a local-only message waits behind
    // one still waiting for another node; local-only publishers without such a wait are acknowledged at once.
    [Fact]
    public async Task Publish_LocalAfterForwarded_AcknowledgedInTheOrderReceived()
    {
        await using var broker = new TestBroker();
        var link = new FakeLink();
        broker.Engine.AttachCluster(link);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("local/#");
        var pub = await broker.ConnectAsync("pub");
        var other = await broker.ConnectAsync("other");

        await pub.SendAsync(Publish("remote/a", MqttQos.AtLeastOnce, 1));
        await pub.SendAsync(Publish("local/b", MqttQos.AtLeastOnce, 2));
        await pub.AssertNothingReceivedAsync();
        var direct = await other.PublishAsync("local/c", qos: MqttQos.AtLeastOnce); // not held by pub's wait
        Assert.Equal(MqttReasonCode.Success, direct!.ReasonCode);

        link.Acknowledgement(0).SetResult();

        Assert.Equal(1, (await pub.ReceiveAsync<MqttAckPacket>()).PacketId);
        Assert.Equal(2, (await pub.ReceiveAsync<MqttAckPacket>()).PacketId);
    }

    // Back-pressure: a node past its high mark keeps the publisher's connection from reading more until it catches up.
    [Fact]
    public async Task Publish_ToANodeThatIsBehind_ConnectionReadsNothingMoreUntilItCatchesUp()
    {
        await using var broker = new TestBroker();
        var link = new FakeLink { Behind = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        broker.Engine.AttachCluster(link);
        var pub = await broker.ConnectAsync("pub");

        await pub.SendAsync(Publish("remote/a", MqttQos.AtMostOnce, 0));
        var ping = pub.PingAsync();
        var first = await Task.WhenAny(ping, Task.Delay(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken));
        Assert.NotSame(ping, first); // the PINGREQ is not read while the node is behind
        Assert.Equal(1, broker.Engine.Metrics.PublisherPauses);

        link.Behind.SetResult();

        Assert.Empty(await ping);
    }
}
