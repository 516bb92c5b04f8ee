using Broker.Cluster;
using Broker.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

/// <summary>data/cluster.state (ctl cluster join/leave) overrides cluster.enable and cluster.nats.servers at start.</summary>
public sealed class ClusterStateTests
{
    [Fact]
    public void Load_LeftState_KeepsTheNodeOutAndItsClusterName()
    {
        using var temp = new TempConf();
        var home = Path.GetDirectoryName(temp.Write("cluster.enable = on", "cluster.nats.servers = nats://10.0.0.1:4222"))!;
        ClusterState.Now(joined: false, "", "ctl cluster leave", TimeProvider.System).Write(home);
        var settings = BrokerSettings.Load(home, home, home, new Dictionary<string, string>());
        Assert.False(settings.Cluster.Enable);
        Assert.StartsWith("broker@", settings.Core.NodeName, StringComparison.Ordinal);
        Assert.NotEqual(Core.Hosting.CoreSettings.DefaultNodeName, settings.Core.NodeName);
    }

    [Fact]
    public void Load_JoinedState_JoinsOverItsServers()
    {
        using var temp = new TempConf();
        var home = Path.GetDirectoryName(temp.Write("node.name = n1@10.0.0.9"))!;
        ClusterState.Now(joined: true, "nats://10.0.0.2:4222", "ctl cluster join", TimeProvider.System).Write(home);
        var settings = BrokerSettings.Load(home, home, home, new Dictionary<string, string>());
        Assert.True(settings.Cluster.Enable);
        Assert.Equal("nats://10.0.0.2:4222", settings.Cluster.Servers);
        Assert.True(settings.ClusterState!.Joined);
    }

    [Fact]
    public void Load_BrokenState_StopsStartupNamingTheFile()
    {
        using var temp = new TempConf();
        var home = Path.GetDirectoryName(temp.Write("# nothing"))!;
        temp.WriteNamed(ClusterState.FileName, "membership = maybe");
        var ex = Assert.Throws<ConfigurationException>(() => BrokerSettings.Load(home, home, home, new Dictionary<string, string>()));
        Assert.Contains("cluster.state: membership must be joined or left, not 'maybe'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Redact_HidesCredentialsInUrls() =>
        Assert.Equal("nats://***@10.0.0.1:4222,nats://10.0.0.2:4222", ClusterOptions.Redact("nats://u:secret@10.0.0.1:4222,nats://10.0.0.2:4222"));
}
