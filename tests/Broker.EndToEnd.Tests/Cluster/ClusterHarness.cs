using System.Diagnostics;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>Broker nodes of one cluster over <see cref="NatsServers"/>, and what they say of it, for the cluster tests.</summary>
internal static class ClusterHarness
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>Starts node <c>name@127.0.0.1</c> of cluster <c>e2e</c>, attached to NATS server <paramref name="server"/>.</summary>
    public static Task<BrokerProcess> StartNodeAsync(string name, NatsServers nats, int server, Action<BrokerOptions>? configure = null) =>
        BrokerProcess.StartAsync(o =>
        {
            o["node.name"] = name + "@127.0.0.1";
            o["cluster.enable"] = "on";
            o["cluster.name"] = "e2e";
            o["cluster.nats.servers"] = nats.Urls(server);
            configure?.Invoke(o);
        });

    /// <summary>
    /// Starts <paramref name="count"/> nodes named a, b, c... of cluster <c>e2e</c>, node i attached to NATS server
    /// i mod the servers' count (listed first, the others after it), <paramref name="configure"/> applied to each with its
    /// index, and waits until every node has met every other. Disposing the set stops the nodes (not NATS).
    /// </summary>
    public static async Task<ClusterNodes> StartAsync(int count, NatsServers nats, Action<int, BrokerOptions>? configure = null)
    {
        var nodes = new ClusterNodes();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var index = i;
                nodes.Add(await StartNodeAsync(((char)('a' + i)).ToString(), nats, i % nats.Ports.Count, o => configure?.Invoke(index, o)));
            }
            await WaitJoinedAsync([.. nodes]);
            return nodes;
        }
        catch
        {
            await nodes.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// <see cref="StartAsync"/> (nodes a, b, c... over the NATS servers, joined), then waits until each
    /// node's client-id registry is ready.
    /// </summary>
    public static async Task<ClusterNodes> StartOwningAsync(NatsServers nats, int count, Action<int, BrokerOptions>? configure = null)
    {
        var nodes = await StartAsync(count, nats, configure);
        try
        {
            await WaitRegistryAsync([.. nodes]);
            return nodes;
        }
        catch
        {
            await nodes.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until every node has synced with every other (their "joined" log lines).</summary>
    public static async Task WaitJoinedAsync(params BrokerProcess[] nodes)
    {
        foreach (var node in nodes)
        {
            foreach (var other in nodes)
            {
                if (other != node)
                    await node.WaitForLogAsync(l => l.Contains($"node {other.NodeName} joined", StringComparison.Ordinal), $"{node.NodeName} to meet {other.NodeName}", Deadline);
            }
        }
    }

    /// <summary>GET /api/v5/nodes: every node this one knows.</summary>
    public static async Task<JsonElement> NodesAsync(BrokerProcess broker)
    {
        using var http = broker.CreateManagementClient();
        var json = await http.GetStringAsync("api/v5/nodes", TestContext.Current.CancellationToken);
        return JsonDocument.Parse(json).RootElement.GetProperty("data").Clone();
    }

    /// <summary>Asks the node's API again and again (each answer is the wait) until <paramref name="condition"/> holds.</summary>
    public static async Task UntilAsync(BrokerProcess broker, Func<JsonElement, bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        JsonElement nodes = default;
        while (deadline.Elapsed < Deadline)
        {
            nodes = await NodesAsync(broker);
            if (nodes.EnumerateArray().Count() > 1 && condition(nodes))
                return;
        }
        Assert.Fail($"timed out waiting for {what}; last answer: {nodes}");
    }

    public static JsonElement Node(JsonElement nodes, string name)
    {
        foreach (var node in nodes.EnumerateArray())
        {
            if (node.GetProperty("node").GetString() == name)
                return node;
        }
        Assert.Fail($"no node {name} in {nodes}");
        return default;
    }

    public static JsonElement Self(JsonElement nodes) => nodes.EnumerateArray().First(n => n.GetProperty("self").GetBoolean());

    /// <summary>Session copies <paramref name="node"/> has still to write to the cluster (GET /nodes' session_copies_pending).</summary>
    public static int CopiesPending(JsonElement nodes, BrokerProcess node) =>
        Node(nodes, node.NodeName).GetProperty("session_copies_pending").GetInt32();

    /// <summary>Waits until each node's client-id registry is ready (JetStream elects its leaders after the servers start).</summary>
    public static async Task WaitRegistryAsync(params BrokerProcess[] nodes)
    {
        foreach (var node in nodes)
            await node.WaitForLogAsync(l => l.Contains("-owners ready (", StringComparison.Ordinal), $"{node.NodeName}'s registry", Deadline);
    }

    /// <summary>GET /api/v4/clients: every session of the cluster, each with its node.</summary>
    public static async Task<List<JsonElement>> ClientsAsync(BrokerProcess node)
    {
        using var http = node.CreateManagementClient();
        var json = await http.GetStringAsync("api/v4/clients", TestContext.Current.CancellationToken);
        var data = JsonDocument.Parse(json).RootElement.GetProperty("data").Clone();
        return [.. data.EnumerateArray()];
    }

    /// <summary>Asks <paramref name="node"/>'s API until its own session of <paramref name="clientId"/> has <paramref name="count"/> queued messages.</summary>
    public static async Task UntilQueuedAsync(BrokerProcess node, string clientId, int count)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < Deadline)
        {
            foreach (var client in await ClientsAsync(node))
            {
                if (client.GetProperty("clientid").GetString() == clientId && client.GetProperty("node").GetString() == node.NodeName
                    && client.GetProperty("mqueue_len").GetInt32() == count)
                    return;
            }
        }
        Assert.Fail($"{clientId} on {node.NodeName} never had {count} queued messages");
    }
}

/// <summary>Broker nodes started together by <see cref="ClusterHarness.StartAsync"/>; disposing stops them all.</summary>
internal sealed class ClusterNodes : List<BrokerProcess>, IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        foreach (var node in this)
            await node.DisposeAsync();
    }
}
