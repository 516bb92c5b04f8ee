using Broker.Cluster;
using Xunit;

namespace Broker.Server.Tests.Cluster;

/// <summary>
/// How long a node keeps trying to adopt a dead node's sessions while JetStream does not answer (issue 24 item 4: a NATS
/// server killed with the node; its raft groups elect new leaders first, 15 s and more on a loaded 2-core machine).
/// </summary>
public sealed class AdoptionRetryTests
{
    [Fact]
    public void Retries_StartAt2Seconds_BackOffTo15_AndGoOnForFiveMinutes()
    {
        var delays = ClusterNode.AdoptionRetryDelays().ToList();

        Assert.Equal([2, 4, 8, 15, 15], delays.Take(5).Select(d => d.TotalSeconds));
        Assert.All(delays.Skip(3), d => Assert.Equal(TimeSpan.FromSeconds(15), d));
        var total = delays.Aggregate(TimeSpan.Zero, (sum, d) => sum + d);
        Assert.InRange(total, TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(15), TimeSpan.FromMinutes(5));
        // Past the 35 s the former five attempts covered, where a killed NATS server's elections had left the
        // dead node's clients with nothing queued for them.
        Assert.True(delays.Count > 15);
    }
}
