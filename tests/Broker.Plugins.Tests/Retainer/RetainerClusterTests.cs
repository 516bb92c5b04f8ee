using System.Text;
using Broker.Core.Tests.TestTransport;
using Broker.Plugins.Retainer;

namespace Broker.Plugins.Tests.Retainer;

/// <summary>Two retainers as two nodes of a cluster (<see cref="FakeCluster"/>): live changes and the comparison when a node comes up.</summary>
public sealed class RetainerClusterTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("retainer-cluster-");

    public void Dispose() => _data.Delete(recursive: true);

    private async Task<(FakeHookBroker Broker, RetainerPlugin Plugin, FakePluginContext Context)> StartAsync(FakeCluster cluster)
    {
        var broker = new FakeHookBroker(_time, "retained.count");
        var (plugin, context) = await broker.StartAsync<RetainerPlugin>("retainer", _data.CreateSubdirectory(cluster.NodeName).FullName, new RetainerOptions(), cluster);
        return (broker, plugin, context);
    }

    private static async Task<Dictionary<string, string>> RetainedAsync(FakeHookBroker broker) =>
        (await broker.SubscribeAsync("#")).ToDictionary(m => m.Topic, m => Encoding.UTF8.GetString(m.Payload.Span));

    [Fact]
    public async Task LiveChanges_ReachTheOtherNode_AndAStoppedOneIgnoresThem()
    {
        var (ca, cb) = FakeCluster.Pair("a", "b");
        (ca.Connected, cb.Connected) = (true, true);
        var (a, pluginA, contextA) = await StartAsync(ca);
        var (b, pluginB, contextB) = await StartAsync(cb);

        await a.ClientPublishAsync("t/1", "from-a", retain: true);
        await b.ClientPublishAsync("t/2", "from-b", retain: true);
        _time.Advance(TimeSpan.FromSeconds(1));
        await b.ClientPublishAsync("t/1", "", retain: true); // deleted on b: deleted on a

        Assert.Equal(new Dictionary<string, string> { ["t/2"] = "from-b" }, await RetainedAsync(a));
        Assert.Equal(new Dictionary<string, string> { ["t/2"] = "from-b" }, await RetainedAsync(b));
        await a.StopAsync(pluginA, contextA);
        await b.StopAsync(pluginB, contextB);
    }

    // A comparison larger than a page (several requests), where each side has what the other missed: every message
    // arrives, the later publish wins per topic, and a deletion made on one side while apart is not undone by the
    // other's older copy, in either direction.
    [Fact]
    public async Task NodeUp_BothSidesCompare_OverSeveralPages_LaterWinsAndDeletionsHold()
    {
        var (ca, cb) = FakeCluster.Pair("a", "b");
        var (a, pluginA, contextA) = await StartAsync(ca);
        var (b, pluginB, contextB) = await StartAsync(cb);

        // Apart: a gets 3,000 messages of 200 bytes (about 2.5 pages), b an older copy of two of them, then a newer
        // copy of one of them; b holds "gone/1", which a deletes later.
        await b.ClientPublishAsync("gone/1", "b-old", retain: true);
        var payload = new string('x', 200);
        for (var i = 0; i < 3000; i++)
            await a.ClientPublishAsync($"t/{i:D5}", payload + i, retain: true);
        _time.Advance(TimeSpan.FromSeconds(1));
        await b.ClientPublishAsync("t/00001", "b-newer", retain: true);
        _time.Advance(TimeSpan.FromSeconds(1));
        await a.ClientPublishAsync("gone/1", "", retain: true);

        (ca.Connected, cb.Connected) = (true, true);
        await ((RetainerCluster)cb.Listener!).PullAsync("a");
        await ((RetainerCluster)ca.Listener!).PullAsync("b");

        Assert.True(ca.RequestsServed > 2, $"a answered {ca.RequestsServed} page request(s)");
        foreach (var broker in new[] { a, b })
        {
            var retained = await RetainedAsync(broker);
            Assert.Equal(3000, retained.Count);
            Assert.Equal("b-newer", retained["t/00001"]);
            Assert.Equal(payload + 2999, retained["t/02999"]);
            Assert.False(retained.ContainsKey("gone/1"));
        }
        await a.StopAsync(pluginA, contextA);
        await b.StopAsync(pluginB, contextB);
    }
}
