using Broker.Abstractions;
using Broker.Core.Cluster;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>
/// A persistent session moving between two nodes (issue 24, EMQX 4's cross-node takeover): the old node's
/// <see cref="Core.Sessions.SessionManager.ReleaseAsync"/> closes the connection (DISCONNECT 0x8E) and returns the
/// session in its handover form; the new node adopts it from the cluster's claim. Two engines in one process, the
/// cluster played by a link that hands the bytes over.
/// </summary>
public sealed class HandoverTests
{
    [Fact]
    public async Task Handover_SubscriptionsInFlightQueueAndQos2State_ArriveOnTheNewNode()
    {
        await using var oldNode = new TestBroker();
        var client = await oldNode.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300,
            configure: c => c.Properties = new MqttProperties { SessionExpiryInterval = 300, ReceiveMaximum = 2 });
        await client.SubscribeAsync("t/#", MqttQos.AtLeastOnce);
        var publisher = await oldNode.ConnectAsync("pub");
        for (var i = 1; i <= 4; i++)
            await publisher.PublishAsync("t/1", $"m{i}", MqttQos.AtLeastOnce);
        // Receive Maximum 2: two in flight (not acknowledged), two queued.
        var inFlight = new[] { await client.ReceivePublishAsync(), await client.ReceivePublishAsync() };
        await client.AssertNothingReceivedAsync();
        // An incoming QoS 2 message whose PUBREL has not come yet [MQTT-4.3.3-9]: its packet id stays taken.
        await client.SendAsync(new MqttPublishPacket { Topic = "q2/x", Payload = "q"u8.ToArray(), Qos = MqttQos.ExactlyOnce, PacketId = 7 });
        Assert.Equal(MqttPacketType.PubRec, (await client.ReceiveAsync<MqttAckPacket>()).Type);

        var handedOver = await oldNode.Engine.Sessions.ReleaseAsync("c1", discard: false);

        Assert.NotNull(handedOver);
        var disconnect = await client.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.SessionTakenOver, disconnect.ReasonCode); // MQTT 5 §3.14.2.1, 0x8E
        await client.WaitClosedAsync();
        Assert.False(oldNode.Engine.Sessions.TryGet("c1", out _));

        await using var newNode = new TestBroker();
        newNode.Engine.AttachCluster(new HandingLink("c1", handedOver));
        var moved = await newNode.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);

        Assert.True(moved.ConnAck!.SessionPresent); // [MQTT-3.2.2-3]
        // [MQTT-4.4.0-1]: the unacknowledged ones again, DUP set, same packet ids, before the queued ones, in order.
        var resent = new[] { await moved.ReceivePublishAsync(), await moved.ReceivePublishAsync() };
        Assert.Equal(inFlight.Select(p => p.PacketId), resent.Select(p => p.PacketId));
        Assert.All(resent, p => Assert.True(p.Dup));
        Assert.Equal(["m1", "m2"], resent.Select(p => System.Text.Encoding.UTF8.GetString(p.Payload.Span)));
        var queued = new[] { await moved.ReceivePublishAsync(), await moved.ReceivePublishAsync() };
        Assert.Equal(["m3", "m4"], queued.Select(p => System.Text.Encoding.UTF8.GetString(p.Payload.Span)));
        Assert.All(queued, p => Assert.False(p.Dup));

        // The QoS 2 exchange finishes on the new node.
        await moved.AckAsync(MqttPacketType.PubRel, 7);
        var pubcomp = await moved.ReceiveAsync<MqttAckPacket>();
        Assert.Equal(MqttPacketType.PubComp, pubcomp.Type);
        Assert.Equal(MqttReasonCode.Success, pubcomp.ReasonCode); // not 0x92 Packet Identifier not found

        // The subscription came too.
        foreach (var p in resent.Concat(queued))
            await moved.AckAsync(MqttPacketType.PubAck, p.PacketId);
        var newPublisher = await newNode.ConnectAsync("pub2");
        await newPublisher.PublishAsync("t/2", "after", MqttQos.AtLeastOnce);
        Assert.Equal("t/2", (await moved.ReceivePublishAsync()).Topic);
    }

    // What a node held for a client id another node owns now (issue 24: a restarted node whose client resumed
    // elsewhere, a healed split) goes into the owner's session: what the client may not have had (queued, or sent and
    // not acknowledged), not a QoS 2 message it has PUBRECed (it has it [MQTT-4.3.3]), after what the owner holds.
    [Fact]
    public async Task TakeUndelivered_QueuedAndUnacknowledged_GoIntoTheOwnersSession_NotWhatTheClientHas()
    {
        await using var oldNode = new TestBroker();
        var client = await oldNode.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300,
            configure: c => c.Properties = new MqttProperties { SessionExpiryInterval = 300, ReceiveMaximum = 2 });
        await client.SubscribeAsync("t/#", MqttQos.ExactlyOnce);
        var publisher = await oldNode.ConnectAsync("pub");
        for (var i = 1; i <= 3; i++)
            await publisher.PublishAsync("t/1", $"m{i}", MqttQos.ExactlyOnce);
        var first = await client.ReceivePublishAsync();
        await client.ReceivePublishAsync(); // m2: sent, not acknowledged
        await client.AckAsync(MqttPacketType.PubRec, first.PacketId); // m1: the client has it
        Assert.Equal(MqttPacketType.PubRel, (await client.ReceiveAsync<MqttAckPacket>()).Type);
        var state = await oldNode.Engine.Sessions.ReleaseAsync("c1", discard: false);
        Assert.NotNull(state);

        await using var owner = new TestBroker();
        var moved = await owner.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await moved.SubscribeAsync("t/#", MqttQos.ExactlyOnce);
        var ownPublisher = await owner.ConnectAsync("pub2");
        await ownPublisher.PublishAsync("t/1", "owner's", MqttQos.AtLeastOnce);
        Assert.Equal("owner's", System.Text.Encoding.UTF8.GetString((await moved.ReceivePublishAsync()).Payload.Span));

        Assert.Equal(2, await owner.Engine.Sessions.TakeUndeliveredAsync("c1", state));

        var taken = new[] { await moved.ReceivePublishAsync(), await moved.ReceivePublishAsync() };
        Assert.Equal(["m2", "m3"], taken.Select(p => System.Text.Encoding.UTF8.GetString(p.Payload.Span)));
        Assert.All(taken, p => Assert.Equal(MqttQos.ExactlyOnce, p.Qos));
        Assert.Equal(0, await owner.Engine.Sessions.TakeUndeliveredAsync("nobody-here", state)); // no session: nothing
    }

    [Fact]
    public async Task Release_Discard_ReturnsNothingAndEndsTheSession()
    {
        await using var oldNode = new TestBroker();
        var client = await oldNode.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await client.SubscribeAsync("t/#", MqttQos.AtLeastOnce);

        Assert.Null(await oldNode.Engine.Sessions.ReleaseAsync("c1", discard: true)); // the new owner's clean start
        await client.WaitClosedAsync();
        Assert.False(oldNode.Engine.Sessions.TryGet("c1", out _));
    }

    [Fact]
    public async Task Adopt_UnreadableHandover_ConnectsWithAFreshSession()
    {
        await using var newNode = new TestBroker();
        newNode.Engine.AttachCluster(new HandingLink("c1", [0xFF, 0x00, 0x13]));

        var client = await newNode.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);

        Assert.False(client.ConnAck!.SessionPresent);
    }

    // The cluster's copy of a session (ClusterNode.Sessions): written when a session that outlives its connection
    // changes, and what a node whose owner died resumes from: the subscriptions, not the messages or the will.
    [Fact]
    public async Task Copy_OfASessionThatOutlivesItsConnection_ResumedOnAnotherNodeWithItsSubscriptions()
    {
        await using var oldNode = new TestBroker();
        var changes = new HandingLink("none", []);
        oldNode.Engine.AttachCluster(changes);
        var port = new Core.Hosting.ClusterPort(oldNode.Engine);
        var client = await oldNode.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await client.SubscribeAsync("t/#", MqttQos.AtLeastOnce);
        await client.SubscribeAsync("u/+", MqttQos.AtMostOnce);
        var publisher = await oldNode.ConnectAsync("pub");
        await publisher.PublishAsync("t/1", "held on the old node", MqttQos.AtLeastOnce);
        await client.ReceivePublishAsync();

        Assert.Contains("c1", changes.Changed); // created and subscribed
        Assert.DoesNotContain("pub", changes.Changed); // clean session: ends with its connection, no copy
        Assert.Null(port.SessionCopy("pub"));
        var copy = port.SessionCopy("c1");
        Assert.NotNull(copy);

        // The old node is gone without handing the session over; the new node resumes the copy.
        await using var newNode = new TestBroker();
        newNode.Engine.AttachCluster(new HandingLink("c1", copy, isCopy: true));
        var moved = await newNode.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        Assert.True(moved.ConnAck!.SessionPresent); // [MQTT-3.2.2-3]
        await moved.AssertNothingReceivedAsync(); // the old node's unacknowledged message is not in the copy
        var newPublisher = await newNode.ConnectAsync("pub2");
        await newPublisher.PublishAsync("t/2", "after", MqttQos.AtLeastOnce);
        var received = await moved.ReceivePublishAsync();
        Assert.Equal(("t/2", MqttQos.AtLeastOnce), (received.Topic, received.Qos));
        await moved.AckAsync(MqttPacketType.PubAck, received.PacketId);
        await newPublisher.PublishAsync("u/x", "zero");
        Assert.Equal(("u/x", MqttQos.AtMostOnce), ((await moved.ReceivePublishAsync()).Topic, MqttQos.AtMostOnce));
    }

    [Fact]
    public async Task Copy_NeverReplacesASessionThisNodeHas()
    {
        await using var node = new TestBroker();
        var first = await node.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await first.SubscribeAsync("mine/#", MqttQos.AtLeastOnce);
        await first.DisconnectAsync();

        await using var other = new TestBroker();
        var elsewhere = await other.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await elsewhere.SubscribeAsync("theirs/#", MqttQos.AtLeastOnce);
        var copy = new Core.Hosting.ClusterPort(other.Engine).SessionCopy("c1")!;

        node.Engine.AttachCluster(new HandingLink("c1", copy, isCopy: true));
        var again = await node.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        Assert.True(again.ConnAck!.SessionPresent);
        var publisher = await node.ConnectAsync("pub");
        await publisher.PublishAsync("theirs/1", "not routed here", MqttQos.AtLeastOnce);
        await publisher.PublishAsync("mine/1", "routed", MqttQos.AtLeastOnce);
        Assert.Equal("mine/1", (await again.ReceivePublishAsync()).Topic);
    }

    [Fact]
    public async Task Copy_GoesWhenTheSessionEndsOrNoLongerOutlivesItsConnection()
    {
        await using var node = new TestBroker();
        var link = new HandingLink("none", []);
        node.Engine.AttachCluster(link);
        var port = new Core.Hosting.ClusterPort(node.Engine);
        var client = await node.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        Assert.NotNull(port.SessionCopy("c1"));
        await client.DisconnectAsync();
        link.Changed.Clear();

        // Resumed with expiry 0: it ends with this connection, so the copy must go (told, and none to write).
        var resumed = await node.ConnectAsync("c1", cleanStart: false, sessionExpiry: 0);
        Assert.True(resumed.ConnAck!.SessionPresent);
        Assert.Contains("c1", link.Changed);
        Assert.Null(port.SessionCopy("c1"));
    }

    [Fact]
    public async Task AdoptedCopy_QueuesWhatIsPublishedUntilItsClientConnects_OnlyIfClaimedAndNoneHere()
    {
        await using var dead = new TestBroker();
        var client = await dead.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await client.SubscribeAsync("t/#", MqttQos.AtLeastOnce);
        var copy = new Core.Hosting.ClusterPort(dead.Engine).SessionCopy("c1")!;

        await using var adopter = new TestBroker();
        var link = new HandingLink("none", []);
        adopter.Engine.AttachCluster(link);
        var port = new Core.Hosting.ClusterPort(adopter.Engine);
        // The registry's compare-and-set lost (the client connected elsewhere): nothing adopted.
        Assert.False(await port.AdoptSessionAsync("c1", copy, () => Task.FromResult(false)));
        Assert.Null(port.SessionCopy("c1"));

        Assert.True(await port.AdoptSessionAsync("c1", copy, () => Task.FromResult(true)));
        Assert.Contains("c1", link.Changed); // its copy now names this node
        // A second adoption finds the session here and does not even claim.
        var claimed = false;
        Assert.False(await port.AdoptSessionAsync("c1", copy, () => Task.FromResult(claimed = true)));
        Assert.False(claimed);

        var publisher = await adopter.ConnectAsync("pub");
        await publisher.PublishAsync("t/1", "while away", MqttQos.AtLeastOnce);
        var back = await adopter.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        Assert.True(back.ConnAck!.SessionPresent); // [MQTT-3.2.2-3]
        var queued = await back.ReceivePublishAsync();
        Assert.Equal(("t/1", "while away"), (queued.Topic, System.Text.Encoding.UTF8.GetString(queued.Payload.Span)));
    }

    /// <summary>The cluster as the session room sees it: a claim of <paramref name="clientId"/> brings <paramref name="session"/>.</summary>
    private sealed class HandingLink(string clientId, byte[] session, bool isCopy = false) : IClusterLink
    {
        public System.Collections.Concurrent.ConcurrentBag<string> Changed { get; } = [];

        public ForwardOutcome Forward(BrokerMessage message, LocalDeliveries local) => new(0);

        public ValueTask<ClientClaim> ClaimClientAsync(string id, bool discard) =>
            ValueTask.FromResult(new ClientClaim(Refused: false, id == clientId && !discard ? session : null, isCopy));

        public void SessionChanged(string id) => Changed.Add(id);

        public Task BansRead => Task.CompletedTask;

        public void RouteAdded(string route)
        {
        }

        public void RouteRemoved(string route)
        {
        }
    }
}
