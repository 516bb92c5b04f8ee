using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Plugins;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>
/// What a message carries besides MQTT (SDK 1.5, for web hooks, bridges and the cluster): an id, the publisher's client
/// id, user name and address, and the node that accepted it.
/// </summary>
public sealed class MessageMetadataTests
{
    private static (TestBroker Broker, List<BrokerMessage> Seen, SemaphoreSlim Arrived) Capturing()
    {
        var broker = new TestBroker((_, _, _, options) => options.NodeName = "node-a@10.0.0.1");
        var seen = new List<BrokerMessage>();
        var arrived = new SemaphoreSlim(0);
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            lock (seen)
                seen.Add(c.Message);
            arrived.Release();
            return ValueTask.FromResult(HookResult.Continue);
        });
        return (broker, seen, arrived);
    }

    [Fact]
    public async Task ClientPublish_CarriesPublisherUserAddressNodeAndAnId()
    {
        var (broker, seen, arrived) = Capturing();
        await using var _ = broker;
        var client = await broker.ConnectAsync("dev-1", configure: c => c.Username = "alice");

        await client.PublishAsync("t/1", "a", MqttQos.AtLeastOnce);
        await client.PublishAsync("t/2", "b", MqttQos.AtLeastOnce);

        Assert.Equal(2, seen.Count);
        Assert.All(seen, m => Assert.Equal(("dev-1", "alice", "127.0.0.1", "node-a@10.0.0.1"), (m.PublisherId, m.PublisherUsername, m.PublisherAddress, m.OriginNode)));
        Assert.NotEqual(seen[0].Id, seen[1].Id);
        // Version 7 GUIDs: ordered by time, so a later message sorts after an earlier one.
        Assert.True(string.CompareOrdinal(seen[0].Id, seen[1].Id) <= 0 || seen[0].Timestamp == seen[1].Timestamp);
    }

    [Fact]
    public async Task Will_CarriesTheSameMetadata()
    {
        var (broker, seen, arrived) = Capturing();
        await using var _ = broker;
        var client = await broker.ConnectAsync("dev-2", configure: c =>
        {
            c.Username = "bob";
            c.WillTopic = "wills/dev-2";
            c.WillPayload = "gone"u8.ToArray();
        });

        await client.AbortAsync();
        Assert.True(await arrived.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken), "the will was not published");

        var will = Assert.Single(seen);
        Assert.Equal(("wills/dev-2", "dev-2", "bob", "127.0.0.1", "node-a@10.0.0.1"), (will.Topic, will.PublisherId, will.PublisherUsername, will.PublisherAddress, will.OriginNode));
    }

    [Fact]
    public async Task PluginPublish_GetsTheNodeAndAnId_NoPublisher()
    {
        var (broker, seen, arrived) = Capturing();
        await using var _ = broker;

        await new BrokerServices(broker.Engine).PublishAsync(new BrokerMessage { Topic = "from/plugin" }, TestContext.Current.CancellationToken);

        var message = Assert.Single(seen);
        Assert.Equal(((string?)null, (string?)null, "node-a@10.0.0.1"), (message.PublisherId, message.PublisherAddress, message.OriginNode));
        Assert.Matches("^[0-9a-f]{32}$", message.Id);
    }
}
