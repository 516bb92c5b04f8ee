using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>Broker nodes of one cluster over <see cref="NatsServers"/>, for the cluster tests.</summary>
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
}
