using Broker.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

public sealed class UnknownKeyTests : IDisposable
{
    private static readonly IReadOnlySet<string> Known = ConfBinder.KnownKeys(typeof(SampleOptions), typeof(LimitsOptions));

    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void CheckUnknownKeys_Typo_ErrorNamesFileLineKeyAndSuggestion()
    {
        var path = _temp.Write("mqtt.max_packet_size = 1MB", "mqtt.max_pakcet_size = 2MB");

        var error = Assert.Single(ConfBinder.CheckUnknownKeys(TempConf.Build(path), Known));

        Assert.Equal($"{path}:2: mqtt.max_pakcet_size: unknown key; did you mean mqtt.max_packet_size?", error.ToString());
        Assert.Equal(ConfOrigin.InFile(path, 2), error.Origin);
        Assert.Equal("mqtt.max_pakcet_size", error.Key);
    }

    [Theory]
    [InlineData("mqtt.keepalve", "mqtt.keepalive")]
    [InlineData("mqtt.keep_alive", "mqtt.keepalive")]
    [InlineData("listener.tcp.externl", "listener.tcp.external")]
    [InlineData("listener.tcp.external.max_conections", "listener.tcp.external.max_connections")]
    [InlineData("broker.shared_subscription_stratgey", "broker.shared_subscription_strategy")]
    public void Suggest_CommonTypos_FindTheKey(string typo, string expected)
    {
        Assert.Equal(expected, ConfBinder.Suggest(typo, Known));
    }

    [Theory]
    [InlineData("zone.external.idle_timeout")]
    [InlineData("mqtt")]
    [InlineData("limits.x")]
    public void Suggest_NothingClose_ReturnsNull(string key)
    {
        Assert.Null(ConfBinder.Suggest(key, Known));
    }

    [Fact]
    public void Suggest_TwoKeysEquallyClose_ReturnsNull()
    {
        Assert.Null(ConfBinder.Suggest("limits.haft", Known));
    }

    [Fact]
    public void CheckUnknownKeys_NothingClose_PlainUnknownKey()
    {
        var path = _temp.Write("zone.external.idle_timeout = 15s");

        var error = Assert.Single(ConfBinder.CheckUnknownKeys(TempConf.Build(path), Known));

        Assert.Equal($"{path}:1: zone.external.idle_timeout: unknown key", error.ToString());
    }

    [Fact]
    public void CheckUnknownKeys_KnownKeysInAnyCase_NoErrors()
    {
        var path = _temp.Write("mqtt.max_packet_size = 1MB", "Listener.TCP.External = 0.0.0.0:1883", "limits.soft = 1");

        Assert.Empty(ConfBinder.CheckUnknownKeys(TempConf.Build(path), Known));
    }

    [Fact]
    public void CheckUnknownKeys_EnvironmentVariables_AreNotChecked()
    {
        var path = _temp.Write("mqtt.max_packet_size = 1MB");
        var configuration = TempConf.Build(path, new Dictionary<string, string> { ["BROKER_AUTH__REDIS__SERVER"] = "127.0.0.1:6379" });

        Assert.Empty(ConfBinder.CheckUnknownKeys(configuration, Known));
    }

    [Fact]
    public void CheckUnknownKeys_ConfFile_ReportsEveryUnknownKeyInLineOrder()
    {
        var file = ConfFile.Parse(_temp.Write("a.b = 1", "mqtt.keepalive = 5s", "c.d = 2"));

        var errors = ConfBinder.CheckUnknownKeys(file, Known);

        Assert.Equal([1, 3], errors.Select(e => e.Origin!.Line));
    }

    [Theory]
    [InlineData("abc", "abc", 0)]
    [InlineData("abc", "abd", 1)]
    [InlineData("abc", "acb", 1)]
    [InlineData("abc", "ab", 1)]
    [InlineData("", "abc", 3)]
    [InlineData("kitten", "sitting", 3)]
    public void EditDistance_Pairs_CountsEditsWithSwapsAsOne(string a, string b, int expected)
    {
        Assert.Equal(expected, ConfBinder.EditDistance(a, b));
    }
}
