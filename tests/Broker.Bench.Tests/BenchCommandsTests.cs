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
    public void Parse_BadValue_ErrorNamesTheOption(string command, string option, string value)
    {
        var result = BenchCommands.BuildRoot().Parse([command, option, value]);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith($"{option} {value}:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Defaults_NoErrors()
    {
        foreach (var command in new[] { "fanin", "fanout", "p2p", "conn" })
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
}
