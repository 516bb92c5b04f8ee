using Xunit;
using Broker.Configuration;
using Broker.Server.Tests.Configuration;

namespace Broker.Server.Tests;

/// <summary>The shipped etc/broker.conf is what operators read: it must name every key with its true default.</summary>
public sealed class ShippedConfigTests
{
    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Broker.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Broker.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void BrokerConf_ListsEveryKeyWithItsDefault()
    {
        var path = Path.Combine(RepositoryRoot(), "etc", "broker.conf");
        var file = ConfFile.Parse(path);
        var text = File.ReadAllLines(path);
        var shipped = file.Entries.ToDictionary(e => e.Key, e => e.Value);
        var defaults = ConfDocs.Defaults(BrokerSettings.OptionsTypes);
        foreach (var (key, value) in defaults)
        {
            if (value is null)
            {
                // Not set by default (e.g. the management secret): named, commented out, never set.
                Assert.False(shipped.ContainsKey(key), $"etc/broker.conf sets {key}, which has no default");
                Assert.Contains(text, line => line.StartsWith($"# {key} =", StringComparison.Ordinal));
                continue;
            }
            Assert.True(shipped.ContainsKey(key), $"etc/broker.conf does not mention {key}");
            Assert.Equal(value, shipped[key]);
        }
        Assert.Equal(defaults.Count(kv => kv.Value is not null), shipped.Count);
    }

    [Fact]
    public void Load_ShippedHome_BindsDefaults()
    {
        var settings = BrokerSettings.Load(RepositoryRoot(), etc: null, data: null, environment: new Dictionary<string, string>());
        Assert.Equal(1024 * 1024, settings.Core.Mqtt.MaxPacketSize);
        Assert.False(settings.Core.Access.AllowAnonymous);
        Assert.Equal("0.0.0.0:1883", settings.Listeners.Tcp["external"].Bind);
    }

    [Fact]
    public void Load_BadValue_NamesFileLineAndKey()
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write("# a comment", "mqtt.max_packet_size = lots"))!;
        var ex = Assert.Throws<ConfigurationException>(() => BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string>()));
        Assert.Equal(2, ex.Line);
        Assert.Equal("mqtt.max_packet_size", ex.Key);
        Assert.EndsWith("broker.conf", ex.File);
    }

    [Fact]
    public void Load_EnvironmentOverride_WinsOverFile()
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write("listener.tcp.external = 1883"))!;
        var settings = BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string> { ["BROKER_LISTENER__TCP__EXTERNAL"] = "127.0.0.1:1884" });
        Assert.Equal("127.0.0.1:1884", settings.Listeners.Tcp["external"].Bind);
    }

    [Fact]
    public void Load_UnparsableListenerAddress_IsAConfigurationError()
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write("listener.tcp.external = localhost"))!;
        var ex = Assert.Throws<ConfigurationException>(() => BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string>()));
        Assert.Equal("listener.tcp.external", ex.Key);
    }

    [Fact]
    public void BrokerConf_AfterItsHeader_IsWhatConfDefaultsPrints()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), "etc", "broker.conf"));
        var expected = ConfDocs.Render(BrokerSettings.OptionsTypes);
        Assert.True(text.EndsWith(expected, StringComparison.Ordinal), $"etc/broker.conf should end with `broker conf-defaults`' output:\n{expected}");
    }

    [Fact]
    public void Load_MaxKeepAliveFromEnvironment_Bound()
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write("# empty"))!;
        var settings = BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string> { ["BROKER_MQTT__MAX_KEEPALIVE"] = "30" });
        Assert.Equal(30, settings.Core.Mqtt.MaxKeepAlive);
    }

    [Fact]
    public void Load_ServerKeepAliveAboveMaxKeepAlive_IsAConfigurationError()
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write("mqtt.max_keepalive = 30", "mqtt.server_keepalive = 60"))!;
        var ex = Assert.Throws<ConfigurationException>(() => BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string>()));
        Assert.Equal("mqtt.server_keepalive", ex.Key);
    }
}
