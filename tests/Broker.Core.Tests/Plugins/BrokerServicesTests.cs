using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Core.Plugins;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Plugins;

/// <summary>What plugins can do to the broker through IBrokerServices, checked on connected in-memory clients.</summary>
public sealed class BrokerServicesTests
{
    [Fact]
    public async Task Subscribe_OnBehalfOfAClient_DeliversAndFiresSessionSubscribed()
    {
        await using var broker = new TestBroker();
        var services = new BrokerServices(broker.Engine);
        var client = await broker.ConnectAsync("c1");
        SessionSubscribedContext? seen = null;
        broker.Engine.Hooks.Register(HookPoints.SessionSubscribed, c =>
        {
            seen = c;
            return ValueTask.FromResult(HookResult.Continue);
        });

        Assert.True(services.Subscribe("c1", "auto/#", new SubscriptionOptions(MqttQos.AtMostOnce)));
        Assert.False(services.Subscribe("nobody", "auto/#", new SubscriptionOptions(MqttQos.AtMostOnce)));
        Assert.False(services.Subscribe("c1", "bad/#/filter", new SubscriptionOptions(MqttQos.AtMostOnce)));

        Assert.Equal("auto/#", seen?.TopicFilter);
        Assert.Equal("c1", seen?.Client?.ClientId);
        var deliveries = await services.PublishAsync(new BrokerMessage { Topic = "auto/x", Payload = "hi"u8.ToArray() }, TestContext.Current.CancellationToken);
        Assert.Equal(1, deliveries);
        var publish = await client.ReceivePublishAsync();
        Assert.Equal("auto/x", publish.Topic);
        Assert.Equal("hi", Encoding.UTF8.GetString(publish.Payload.Span));
        Assert.Equal([new SubscriptionInfo("c1", "auto/#", new SubscriptionOptions(MqttQos.AtMostOnce))], services.ListSubscriptions("c1"));
    }

    [Fact]
    public async Task Unsubscribe_RemovesTheRouteAndTheListedSubscription()
    {
        await using var broker = new TestBroker();
        var services = new BrokerServices(broker.Engine);
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("a/b");

        Assert.True(services.Unsubscribe("c1", "a/b"));
        Assert.False(services.Unsubscribe("c1", "a/b"));

        Assert.Empty(services.ListSubscriptions());
        Assert.Equal(0, await services.PublishAsync(new BrokerMessage { Topic = "a/b" }, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task FindListAndKick_ConnectedClients()
    {
        await using var broker = new TestBroker();
        var services = new BrokerServices(broker.Engine);
        var c1 = await broker.ConnectAsync("c1");
        await broker.ConnectAsync("c2", MqttProtocolVersion.V311);

        Assert.Equal("c1", services.FindClient("c1")?.ClientId);
        Assert.Null(services.FindClient("c3"));
        Assert.Equal(["c1", "c2"], services.ListClients().Select(c => c.ClientId).Order());

        Assert.True(await services.KickAsync("c1"));

        var disconnect = await c1.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.AdministrativeAction, disconnect.ReasonCode);
        Assert.Null(services.FindClient("c1"));
        Assert.False(await services.KickAsync("c1"));
    }

    [Fact]
    public async Task SetGauge_RetainedCountIsTheSysGauge_OthersAreKept()
    {
        await using var broker = new TestBroker();
        var services = new BrokerServices(broker.Engine);

        services.SetGauge("retained.count", 42);
        services.SetGauge("delayed.count", 7);

        Assert.Equal(42, broker.Engine.Metrics.Retained);
        Assert.Equal(7, broker.Engine.Metrics.Gauges["delayed.count"]);
        Assert.Equal(broker.Options.NodeName, services.NodeName);
    }
}
