namespace Broker.Bench.Tests;

public sealed class BenchCommandsTests
{
    [Theory]
    [InlineData("10s", 10.0)]
    [InlineData("500ms", 0.5)]
    [InlineData("2m", 120.0)]
    [InlineData("1h", 3600.0)]
    [InlineData("1.5", 1.5)]
    [InlineData("0s", 0.0)]
    public void TryParseDuration_Valid(string text, double seconds)
    {
        Assert.True(BenchCommands.TryParseDuration(text, out var value));
        Assert.Equal(seconds, value.TotalSeconds, 6);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ten")]
    [InlineData("-1s")]
    [InlineData("5x")]
    public void TryParseDuration_Invalid(string text) => Assert.False(BenchCommands.TryParseDuration(text, out _));

    [Theory]
    [InlineData("fanin", "--qos", "3")]
    [InlineData("p2p", "--pairs", "0")]
    [InlineData("fanout", "--version", "6")]
    [InlineData("fanin", "--duration", "0s")]
    [InlineData("conn", "--conn-rate", "0")]
    [InlineData("fanin", "--size", "10")]
    [InlineData("fanin", "--idle-subscriptions", "-1")]
    [InlineData("p2p", "--idle-connections", "0")]
    [InlineData("conn", "--ifaddr", "127.0.0.300")]
    [InlineData("fanin", "--ifaddr", "127.0.0.2;127.0.0.3")]
    [InlineData("fanin", "--pacing", "coordinated")]
    [InlineData("conn", "--transport", "quic")]
    [InlineData("fanin", "--broker-pid", "12;34")]
    [InlineData("conn", "--broker-pid", "12,x")]
    [InlineData("p2p", "--sub-port", "0")]
    [InlineData("p2p", "--settle", "soon")]
    [InlineData("convergence", "--rounds", "0")]
    [InlineData("convergence", "--interval", "0ms")]
    public void Parse_BadValue_ErrorNamesTheOption(string command, string option, string value)
    {
        var result = BenchCommands.BuildRoot().Parse([command, option, value]);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith($"{option} {value}:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Defaults_NoErrors()
    {
        foreach (var command in new[] { "fanin", "fanout", "p2p", "conn", "convergence" })
            Assert.Empty(BenchCommands.BuildRoot().Parse([command]).Errors);
    }

    [Fact]
    public void Parse_IdleOptions_Defaults()
    {
        var settings = BenchCommands.ParseTraffic("fanin");
        Assert.NotNull(settings);
        Assert.Equal(0, settings.IdleSubscriptions);
        Assert.Equal(100, settings.IdleConnections);
    }

    [Theory]
    [InlineData("fanin", "FanIn")]
    [InlineData("fanout", "FanOut")]
    [InlineData("p2p", "P2p")]
    public void Parse_IdleOptions_EveryTrafficScenario(string command, string scenario)
    {
        var settings = BenchCommands.ParseTraffic(command, "--idle-subscriptions", "100000", "--idle-connections", "250", "--qos", "1");
        Assert.NotNull(settings);
        Assert.Equal(scenario, settings.Scenario.ToString());
        Assert.Equal(100_000, settings.IdleSubscriptions);
        Assert.Equal(250, settings.IdleConnections);
        Assert.Equal(1, settings.Qos);
    }

    [Fact]
    public void Parse_IfAddr_AddressesUsedInTurn_NoneByDefault()
    {
        var settings = BenchCommands.ParseTraffic("p2p", "--ifaddr", "127.0.0.2, 127.0.0.3");
        Assert.NotNull(settings);
        Assert.Equal(["127.0.0.2", "127.0.0.3", "127.0.0.2"], [.. Enumerable.Range(0, 3).Select(i => settings.LocalAddress(i)!.ToString())]);
        Assert.Null(BenchCommands.ParseTraffic("p2p")!.LocalAddress(0));
    }

    [Fact]
    public void Parse_IdleOptions_NotOnConn() =>
        Assert.NotEmpty(BenchCommands.BuildRoot().Parse(["conn", "--idle-subscriptions", "10"]).Errors);

    [Fact]
    public void ParseTraffic_Pacing_UncoordinatedByDefaultTickedOnRequest()
    {
        Assert.Equal(Pacing.Uncoordinated, BenchCommands.ParseTraffic("fanin", "--rate", "5000")!.Pacing);
        Assert.Equal(Pacing.Ticked, BenchCommands.ParseTraffic("fanin", "--rate", "5000", "--pacing", "ticked")!.Pacing);
    }

    [Fact]
    public void ParseTraffic_Transport_TcpByDefaultEachKindOnRequest()
    {
        Assert.Equal(Broker.Bench.Client.TransportKind.Tcp, BenchCommands.ParseTraffic("fanin")!.Transport);
        var wss = BenchCommands.ParseTraffic("fanin", "--transport", "wss", "--ws-path", "/ws", "--host", "broker.example")!;
        Assert.Equal(new Broker.Bench.Client.BenchTransport(Broker.Bench.Client.TransportKind.Wss, "broker.example", "/ws"), wss.TransportFor());
    }

    [Fact]
    public void ParseTraffic_BrokerPid_OneOrACommaSeparatedList()
    {
        Assert.Empty(BenchCommands.ParseTraffic("p2p")!.BrokerPids);
        Assert.Equal([1234], BenchCommands.ParseTraffic("p2p", "--broker-pid", "1234")!.BrokerPids);
        Assert.Equal([12, 34, 56], BenchCommands.ParseTraffic("fanin", "--broker-pid", "12, 34,56")!.BrokerPids);
    }

    [Theory]
    [InlineData("1,2,3", new[] { 1, 2, 3 })]
    [InlineData(" 7 ", new[] { 7 })]
    [InlineData("", new int[0])]
    public void TryParsePids_Valid(string text, int[] expected)
    {
        Assert.True(BenchCommands.TryParsePids(text, out var pids));
        Assert.Equal(expected, pids);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("1,,2")]
    [InlineData("+3")]
    public void TryParsePids_Invalid(string text) => Assert.False(BenchCommands.TryParsePids(text, out _));

    [Fact]
    public void ParseTraffic_SubscriberBroker_DefaultsToThePublishers()
    {
        var settings = BenchCommands.ParseTraffic("p2p", "--host", "10.0.0.1", "--port", "1884")!;
        Assert.Equal("10.0.0.1", settings.SubscriberHost);
        Assert.Equal(1884, settings.SubscriberPort);
        Assert.False(settings.SplitBrokers);
        Assert.Equal(TimeSpan.Zero, settings.SettleTime);
    }

    [Fact]
    public void ParseTraffic_SubscriberBroker_AnotherNodeSettlesOneSecondUnlessTold()
    {
        var split = BenchCommands.ParseTraffic("fanin", "--port", "1884", "--sub-port", "1885")!;
        Assert.Equal("127.0.0.1", split.SubscriberHost);
        Assert.Equal(1885, split.SubscriberPort);
        Assert.True(split.SplitBrokers);
        Assert.Equal(TimeSpan.FromSeconds(1), split.SettleTime);

        var otherHost = BenchCommands.ParseTraffic("p2p", "--sub-host", "127.0.0.2", "--settle", "250ms")!;
        Assert.True(otherHost.SplitBrokers);
        Assert.Equal(1883, otherHost.SubscriberPort);
        Assert.Equal(TimeSpan.FromMilliseconds(250), otherHost.SettleTime);

        Assert.Equal(TimeSpan.FromSeconds(2), BenchCommands.ParseTraffic("p2p", "--settle", "2s")!.SettleTime);
    }

    [Fact]
    public void ParseConvergence_OptionsAndDefaults()
    {
        var defaults = BenchCommands.ParseTraffic("convergence")!;
        Assert.Equal(Scenario.Convergence, defaults.Scenario);
        Assert.Equal(100, defaults.Rounds);
        Assert.Equal(TimeSpan.FromMilliseconds(1), defaults.PublishInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), defaults.RoundTimeout);
        Assert.False(defaults.SplitBrokers);

        var settings = BenchCommands.ParseTraffic("convergence", "--port", "1884", "--sub-port", "1885", "--rounds", "50",
            "--interval", "2ms", "--round-timeout", "1s", "--broker-pid", "10,11")!;
        Assert.Equal(50, settings.Rounds);
        Assert.Equal(TimeSpan.FromMilliseconds(2), settings.PublishInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.RoundTimeout);
        Assert.Equal(1885, settings.SubscriberPort);
        Assert.Equal([10, 11], settings.BrokerPids);
    }
}
