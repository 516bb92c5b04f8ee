using System.Threading.Channels;
using Broker.Abstractions;
using Broker.Core.Routing;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Routing;

/// <summary>Subscriptions without a session (SDK 1.5): bridges and topic metrics receive what clients publish.</summary>
public sealed class InternalSubscriptionsTests
{
    private static TimeSpan Timeout => TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Add_MatchingPublishes_ReachTheHandlerInOrder_WithMetadata_OthersDoNot()
    {
        await using var broker = new TestBroker();
        var received = Channel.CreateUnbounded<BrokerMessage>();
        using var subscription = broker.Engine.InternalSubscriptions.Add("bridge", "up/+/temp", (m, _) => received.Writer.WriteAsync(m), 100);
        var client = await broker.ConnectAsync("dev-1");

        await client.PublishAsync("up/a/temp", "1", MqttQos.AtLeastOnce);
        await client.PublishAsync("up/a/hum", "x", MqttQos.AtLeastOnce);
        var ack = await client.PublishAsync("up/b/temp", "2", MqttQos.AtLeastOnce);

        var first = await received.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
        var second = await received.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.Equal(("up/a/temp", "dev-1"), (first.Topic, first.PublisherId));
        Assert.Equal("up/b/temp", second.Topic);
        Assert.Equal(2, subscription.Received);
        // Received by the bridge, so not "no matching subscribers" for the publisher [MQTT 5 3.4.2.1].
        Assert.Equal(MqttReasonCode.Success, ack!.ReasonCode);
        Assert.Equal(1, broker.Engine.InternalSubscriptions.Count);
    }

    [Fact]
    public async Task Deliver_HandlerBehind_QueueBoundedDropsCounted_PublisherNeverWaits()
    {
        await using var broker = new TestBroker();
        var release = new TaskCompletionSource();
        using var subscription = broker.Engine.InternalSubscriptions.Add("slow", "t/#", async (_, ct) => await release.Task.WaitAsync(ct), 2);
        var client = await broker.ConnectAsync("pub");

        for (var i = 0; i < 10; i++)
            await client.PublishAsync("t/x", "m", MqttQos.AtLeastOnce);

        // One in the handler, two queued, the rest dropped: the QoS 1 publisher got all its PUBACKs meanwhile.
        Assert.InRange(subscription.Dropped, 6, 8);
        release.SetResult();
    }

    [Fact]
    public async Task Handler_Throws_CountedAndTheNextMessageStillArrives()
    {
        await using var broker = new TestBroker();
        var good = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = broker.Engine.InternalSubscriptions.Add("flaky", "t", (m, _) =>
        {
            if (m.Payload.Span.SequenceEqual("bad"u8))
                throw new InvalidOperationException("boom");
            good.TrySetResult(System.Text.Encoding.UTF8.GetString(m.Payload.Span));
            return ValueTask.CompletedTask;
        }, 10);
        var client = await broker.ConnectAsync("pub");

        await client.PublishAsync("t", "bad", MqttQos.AtLeastOnce);
        await client.PublishAsync("t", "good", MqttQos.AtLeastOnce);

        Assert.Equal("good", await good.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Equal(1, subscription.Failed);
    }

    [Fact]
    public async Task WildcardFilter_DoesNotMatchSys_ExplicitSysFilterDoes_DisposeUnsubscribes()
    {
        await using var broker = new TestBroker();
        var all = Channel.CreateUnbounded<string>();
        var sys = Channel.CreateUnbounded<string>();
        var wildcard = broker.Engine.InternalSubscriptions.Add("p", "#", (m, _) => all.Writer.WriteAsync(m.Topic), 10);
        using var sysOnly = broker.Engine.InternalSubscriptions.Add("p", "$SYS/#", (m, _) => sys.Writer.WriteAsync(m.Topic), 10);

        await broker.Engine.PublishAsync(new BrokerMessage { Topic = "$SYS/brokers/x/uptime" }, publisher: null);
        await broker.Engine.PublishAsync(new BrokerMessage { Topic = "plain" }, publisher: null);

        Assert.Equal("$SYS/brokers/x/uptime", await sys.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.Equal("plain", await all.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken));
        Assert.False(all.Reader.TryRead(out _)); // [MQTT-4.7.2-1]: # does not match $SYS/...
        wildcard.Dispose();
        Assert.Equal(1, broker.Engine.InternalSubscriptions.Count);
        Assert.Throws<ArgumentException>(() => broker.Engine.InternalSubscriptions.Add("p", "$share/g/t", (_, _) => ValueTask.CompletedTask, 1));
        Assert.Throws<ArgumentException>(() => broker.Engine.InternalSubscriptions.Add("p", "a/#/b", (_, _) => ValueTask.CompletedTask, 1));
    }
}
