using Broker.Abstractions;
using Broker.Plugins.Retainer;

namespace Broker.Plugins.Tests.Retainer;

public sealed class RetainedStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static BrokerMessage Message(string topic, string payload = "x", uint? expiry = null, DateTimeOffset? at = null) => new()
    {
        Topic = topic,
        Payload = System.Text.Encoding.UTF8.GetBytes(payload),
        Retain = true,
        MessageExpiryInterval = expiry,
        Timestamp = at ?? T0,
    };

    private static List<string> Topics(RetainedStore store, string filter, DateTimeOffset now)
    {
        var found = new List<BrokerMessage>();
        store.Match(filter, now, found);
        return [.. found.Select(m => m.Topic).Order(StringComparer.Ordinal)];
    }

    [Fact]
    public void Apply_ZeroLengthPayload_DeletesAndIsNotStored_MQTT_3_3_1_10_and_11()
    {
        var changes = new List<(string, BrokerMessage?)>();
        var counts = new List<int>();
        var store = new RetainedStore(new RetainerOptions(), (t, m) => changes.Add((t, m)), counts.Add);
        Assert.Equal(StoreOutcome.Added, store.Apply(Message("a")));
        Assert.Equal(StoreOutcome.Replaced, store.Apply(Message("a", "y")));
        Assert.Equal(StoreOutcome.Deleted, store.Apply(Message("a", "")));
        Assert.Equal(StoreOutcome.NothingToDelete, store.Apply(Message("a", "")));
        Assert.Equal(0, store.Count);
        Assert.Empty(Topics(store, "#", T0));
        Assert.Equal([1, 0], counts);
        Assert.Equal(3, changes.Count);
        Assert.Null(changes[2].Item2);
    }

    [Fact]
    public void Apply_WhenFull_RefusesNewTopics_ButReplacesAndDeletes()
    {
        var store = new RetainedStore(new RetainerOptions { MaxRetainedMessages = 2 });
        store.Apply(Message("a"));
        store.Apply(Message("b"));
        Assert.Equal(StoreOutcome.Full, store.Apply(Message("c")));
        Assert.Equal(StoreOutcome.Replaced, store.Apply(Message("a", "new")));
        Assert.Equal(StoreOutcome.Deleted, store.Apply(Message("b", "")));
        Assert.Equal(StoreOutcome.Added, store.Apply(Message("c")));
        Assert.Equal(["a", "c"], Topics(store, "#", T0));
    }

    [Fact]
    public void Apply_PayloadOverMax_NotStored_TopicKeepsItsMessage()
    {
        var store = new RetainedStore(new RetainerOptions { MaxPayloadSize = 4 });
        store.Apply(Message("a", "1234"));
        Assert.Equal(StoreOutcome.TooLarge, store.Apply(Message("a", "12345")));
        var found = new List<BrokerMessage>();
        store.Match("a", T0, found);
        Assert.Equal("1234", System.Text.Encoding.UTF8.GetString(Assert.Single(found).Payload.Span));
    }

    [Fact]
    public void Match_ExpiredByOwnInterval_NotReturnedAndRemoved()
    {
        var counts = new List<int>();
        var store = new RetainedStore(new RetainerOptions { ExpiryInterval = TimeSpan.FromHours(1) }, countChanged: counts.Add);
        store.Apply(Message("short", expiry: 10));
        store.Apply(Message("default"));
        Assert.Equal(["default", "short"], Topics(store, "#", T0.AddSeconds(9)));
        // Its own expiry wins over expiry_interval.
        Assert.Equal(["default"], Topics(store, "#", T0.AddSeconds(10)));
        Assert.Equal(1, store.Count);
        Assert.Empty(Topics(store, "#", T0.AddHours(1)));
        Assert.Equal([1, 2, 1, 0], counts);
    }

    [Fact]
    public void RemoveExpired_SweepsOnlyExpired()
    {
        var store = new RetainedStore(new RetainerOptions { ExpiryInterval = TimeSpan.FromSeconds(30) });
        store.Apply(Message("old"));
        store.Apply(Message("new", at: T0.AddSeconds(20)));
        store.Apply(Message("forever-ish", expiry: 3600));
        Assert.Equal(1, store.RemoveExpired(T0.AddSeconds(30)));
        Assert.Equal(2, store.Count);
    }

    [Fact]
    public async Task ConcurrentPublishesAndMatches_KeepCountConsistent()
    {
        var store = new RetainedStore(new RetainerOptions());
        var ct = TestContext.Current.CancellationToken;
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < 2000; i++)
                store.Apply(Message($"w{w}/{i % 100}", i % 7 == 0 ? "" : "x"));
        }, ct));
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
                Topics(store, "+/#", T0);
        }, ct));
        await Task.WhenAll(writers.Concat(readers));
        Assert.Equal(Topics(store, "#", T0).Count, store.Count);
    }
}
