using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>The real `ctl` executable against the real broker, as an operator runs it.</summary>
public sealed class CtlTests
{

    [Fact]
    public async Task Status_Running_PrintsNodeVersionUptimeAndExitsZero()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await CtlRunner.RunAsync(broker, "status");
        Assert.True(result.ExitCode == 0, result.Transcript);
        Assert.Matches(@"^Broker broker@127\.0\.0\.1 \d+\.\d+\.\d+ is running, uptime \d+ days, ", result.Stdout);
    }

    [Fact]
    public async Task Status_AddressAndSecretFromBrokerHome_NoFlags()
    {
        await using var broker = await BrokerProcess.StartAsync();
        // The broker took its listener from the environment; ctl reads the home's broker.conf like an operator's.
        await File.WriteAllTextAsync(
            Path.Combine(broker.HomeDirectory, "etc", "broker.conf"),
            $"# test\nmanagement.listener = 127.0.0.1:{CtlRunner.Port(broker.ManagementPort)}\n", TestContext.Current.CancellationToken);
        var result = await CtlRunner.RunAsync(["status"], workingDirectory: broker.HomeDirectory);
        Assert.True(result.ExitCode == 0, result.Transcript);
        Assert.StartsWith("Broker broker@127.0.0.1", result.Stdout, StringComparison.Ordinal);

        var viaEnv = await CtlRunner.RunAsync(["status"], new Dictionary<string, string> { ["BROKER_HOME"] = broker.HomeDirectory });
        Assert.True(viaEnv.ExitCode == 0, viaEnv.Transcript);
    }

    [Fact]
    public async Task Status_NotRunning_SaysSoOnStderrAndExitsOne()
    {
        var home = Directory.CreateTempSubdirectory("ctl-e2e-").FullName;
        try
        {
            var port = FreePorts.Next();
            Directory.CreateDirectory(Path.Combine(home, "etc"));
            await File.WriteAllTextAsync(Path.Combine(home, "etc", "broker.conf"), $"management.listener = 127.0.0.1:{CtlRunner.Port(port)}\n", TestContext.Current.CancellationToken);
            var result = await CtlRunner.RunAsync(["--home", home, "status"]);
            Assert.True(result.ExitCode == 1, result.Transcript);
            Assert.Equal($"broker is not running at http://127.0.0.1:{CtlRunner.Port(port)}", result.Stderr);
            Assert.Equal("", result.Stdout);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task Status_AfterBrokerStopped_ExitsOne()
    {
        var broker = await BrokerProcess.StartAsync();
        var url = broker.ManagementUrl.ToString();
        await broker.DisposeAsync();
        var result = await CtlRunner.RunAsync(["--url", url, "--secret", "x", "status"]);
        Assert.True(result.ExitCode == 1, result.Transcript);
        Assert.Contains("broker is not running at", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_WrongSecret_ExitsOneSayingSo()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var result = await CtlRunner.RunAsync(broker, "--secret", "wrong-secret", "status");
        Assert.True(result.ExitCode == 1, result.Transcript);
        Assert.Contains("refused", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientsListShowKick_MosquittoSub()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "ctl-sub", "-u", "carol", "-t", "ctl/#", "-q", "2");

        var list = await CtlRunner.RunAsync(broker, "clients", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        var lines = list.Stdout.Split('\n');
        Assert.StartsWith("CLIENT ID", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^ctl-sub\s+carol\s+127\.0\.0\.1:\d+\s+v4\s+connected\s", lines[1]);
        Assert.Equal("1 client", lines[^1]);

        var show = await CtlRunner.RunAsync(broker, "clients", "show", "ctl-sub");
        Assert.True(show.ExitCode == 0, show.Transcript);
        Assert.Contains("username:", show.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^clientid:\s+ctl-sub$", show.Stdout);

        var subs = await CtlRunner.RunAsync(broker, "subscriptions", "list", "ctl-sub");
        Assert.True(subs.ExitCode == 0, subs.Transcript);
        Assert.Matches(@"(?m)^ctl-sub\s+ctl/#\s+2\s", subs.Stdout);

        var kick = await CtlRunner.RunAsync(broker, "clients", "kick", "ctl-sub");
        Assert.True(kick.ExitCode == 0, kick.Transcript);
        Assert.Equal("Kicked client ctl-sub", kick.Stdout);
        await broker.WaitForLogAsync(l => l.Contains("Client ctl-sub disconnected: kicked", StringComparison.Ordinal), "ctl-sub kicked");
    }

    [Fact]
    public async Task ClientsKick_Mqtt5Client_GetsDisconnect0x98()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("ctl-v5", MqttBytes.V5));
        var kick = await CtlRunner.RunAsync(broker, "clients", "kick", "ctl-v5");
        Assert.True(kick.ExitCode == 0, kick.Transcript);
        var disconnect = Assert.Single(await client.WaitForCloseAsync(), p => p.Type == MqttBytes.Disconnect);
        Assert.Equal(0x98, MqttBytes.ReasonCode(disconnect));

        var again = await CtlRunner.RunAsync(broker, "clients", "show", "ctl-v5");
        Assert.True(again.ExitCode == 1, again.Transcript);
        Assert.Equal("no client 'ctl-v5'", again.Stderr);
    }

    [Fact]
    public async Task Json_PrintsTheApiAnswer()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("ctl-json"));

        var clients = await CtlRunner.RunAsync(broker, "clients", "list", "--json");
        Assert.True(clients.ExitCode == 0, clients.Transcript);
        var answer = JsonDocument.Parse(clients.Stdout).RootElement;
        Assert.Equal(0, answer.GetProperty("code").GetInt32());
        Assert.Equal("ctl-json", Assert.Single(answer.GetProperty("data").EnumerateArray()).GetProperty("clientid").GetString());

        foreach (var (command, property) in new[] { ("stats", "stats"), ("metrics", "metrics") })
        {
            var result = await CtlRunner.RunAsync(broker, "--json", "broker", command);
            Assert.True(result.ExitCode == 0, result.Transcript);
            var node = JsonDocument.Parse(result.Stdout).RootElement.GetProperty("data")[0];
            Assert.Equal(JsonValueKind.Object, node.GetProperty(property).ValueKind);
        }

        var status = await CtlRunner.RunAsync(broker, "status", "--json");
        Assert.Equal("broker@127.0.0.1", JsonDocument.Parse(status.Stdout).RootElement.GetProperty("data")[0].GetProperty("node").GetString());
    }

    [Fact]
    public async Task BrokerStatsAndMetrics_AreReadableTables()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var stats = await CtlRunner.RunAsync(broker, "broker", "stats");
        Assert.True(stats.ExitCode == 0, stats.Transcript);
        Assert.Matches(@"(?m)^connections\.count\s+: 0$", stats.Stdout);
        var metrics = await CtlRunner.RunAsync(broker, "broker", "metrics");
        Assert.Matches(@"(?m)^bytes\.received\s+: \d+$", metrics.Stdout);
        var info = await CtlRunner.RunAsync(broker, "broker");
        Assert.Matches(@"(?m)^node:\s+broker@127\.0\.0\.1$", info.Stdout);
    }

    [Theory]
    [InlineData("")]
    [InlineData("status")]
    [InlineData("broker")]
    [InlineData("broker stats")]
    [InlineData("broker metrics")]
    [InlineData("clients")]
    [InlineData("clients list")]
    [InlineData("clients show")]
    [InlineData("clients kick")]
    [InlineData("subscriptions")]
    [InlineData("subscriptions list")]
    [InlineData("subscriptions show")]
    [InlineData("subscriptions add")]
    [InlineData("subscriptions del")]
    [InlineData("routes")]
    [InlineData("routes list")]
    [InlineData("acl")]
    [InlineData("acl reload")]
    public async Task Help_EveryCommand_DescribesItself(string command)
    {
        var result = await CtlRunner.RunAsync([.. command.Split(' ', StringSplitOptions.RemoveEmptyEntries), "--help"]);
        Assert.True(result.ExitCode == 0, result.Transcript);
        Assert.Contains("Usage:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--json", result.Stdout, StringComparison.Ordinal);
        var description = result.Stdout.Split('\n').SkipWhile(l => !l.StartsWith("Description:", StringComparison.Ordinal)).Skip(1).FirstOrDefault();
        Assert.False(string.IsNullOrWhiteSpace(description), result.Stdout);
    }

    [Fact]
    public async Task SubscriptionsAddShowDel_RoutesList_ActOnAMosquittoSub()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "ctl-target", "-t", "marker", "-q", "1");

        var add = await CtlRunner.RunAsync(broker, "subscriptions", "add", "ctl-target", "ctl/+/x", "--qos", "1");
        Assert.True(add.ExitCode == 0, add.Transcript);
        Assert.Equal("Subscribed ctl-target to ctl/+/x (QoS 1)", add.Stdout);

        var show = await CtlRunner.RunAsync(broker, "subscriptions", "show", "ctl-target");
        Assert.True(show.ExitCode == 0, show.Transcript);
        Assert.Matches(@"(?m)^ctl-target\s+ctl/\+/x\s+1\s", show.Stdout);
        Assert.Matches(@"(?m)^ctl-target\s+marker\s+1\s", show.Stdout);
        Assert.EndsWith("2 subscriptions", show.Stdout, StringComparison.Ordinal);

        var routes = await CtlRunner.RunAsync(broker, "routes", "list");
        Assert.True(routes.ExitCode == 0, routes.Transcript);
        Assert.StartsWith("TOPIC FILTER", routes.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^ctl/\+/x\s+broker@127\.0\.0\.1$", routes.Stdout);
        var one = await CtlRunner.RunAsync(broker, "--json", "routes", "list", "--topic", "ctl/+/x");
        Assert.Equal("ctl/+/x", Assert.Single(JsonDocument.Parse(one.Stdout).RootElement.GetProperty("data").EnumerateArray()).GetProperty("topic").GetString());

        await MosquittoClients.PublishAsync(broker, ["-t", "ctl/a/x", "-m", "via ctl", "-q", "1"]);
        Assert.Equal("ctl/a/x via ctl", (await MosquittoClients.MessagesAsync(sub, 1)).Select(m => $"{m.Topic} {m.Payload}").Single());

        var del = await CtlRunner.RunAsync(broker, "subscriptions", "del", "ctl-target", "ctl/+/x");
        Assert.True(del.ExitCode == 0, del.Transcript);
        Assert.Equal("Unsubscribed ctl-target from ctl/+/x", del.Stdout);
        var none = await CtlRunner.RunAsync(broker, "routes", "list", "--topic", "ctl/+/x");
        Assert.True(none.ExitCode == 0, none.Transcript);
        Assert.EndsWith("0 routes", none.Stdout, StringComparison.Ordinal);

        var again = await CtlRunner.RunAsync(broker, "subscriptions", "del", "ctl-target", "ctl/+/x");
        Assert.True(again.ExitCode == 1, again.Transcript);
        Assert.Equal("client 'ctl-target' has no subscription to 'ctl/+/x'", again.Stderr);
    }

    [Fact]
    public async Task Subscriptions_UnknownClientOrBadFilter_ExitOneSayingWhy()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "ctl-known", "-t", "t");

        var show = await CtlRunner.RunAsync(broker, "subscriptions", "show", "nobody");
        Assert.True(show.ExitCode == 1, show.Transcript);
        Assert.Equal("no client 'nobody'", show.Stderr);

        var add = await CtlRunner.RunAsync(broker, "subscriptions", "add", "nobody", "a/b");
        Assert.True(add.ExitCode == 1, add.Transcript);
        Assert.Equal("no client 'nobody'", add.Stderr);

        var bad = await CtlRunner.RunAsync(broker, "subscriptions", "add", "ctl-known", "a/#/b");
        Assert.True(bad.ExitCode == 1, bad.Transcript);
        Assert.Contains("'a/#/b' is not a valid topic filter", bad.Stderr, StringComparison.Ordinal);

        var qos = await CtlRunner.RunAsync(broker, "subscriptions", "add", "ctl-known", "a", "--qos", "3");
        Assert.True(qos.ExitCode == 2, qos.Transcript);
    }

    [Fact]
    public async Task AclReload_GoodFileReportsCounts_BadFileExitsOneNamingTheLine()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o.AclConf = "{allow, all}.\n");
        var acl = Path.Combine(broker.HomeDirectory, "etc", "acl.conf");

        await File.WriteAllTextAsync(acl, "{deny, all, subscribe, [\"x\"]}.\n{allow, all}.\n", TestContext.Current.CancellationToken);
        var good = await CtlRunner.RunAsync(broker, "acl", "reload");
        Assert.True(good.ExitCode == 0, good.Transcript);
        Assert.StartsWith("Reloaded 2 ACL rule(s) from ", good.Stdout, StringComparison.Ordinal);

        await File.WriteAllTextAsync(acl, "{allow, all}.\n{allow, nobody}.\n", TestContext.Current.CancellationToken);
        var bad = await CtlRunner.RunAsync(broker, "acl", "reload");
        Assert.True(bad.ExitCode == 1, bad.Transcript);
        Assert.Contains("acl.conf:2:", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewCommands_BrokerNotRunning_ExitOne()
    {
        var url = $"http://127.0.0.1:{CtlRunner.Port(FreePorts.Next())}";
        foreach (var command in new[] { "routes list", "acl reload", "subscriptions add c t", "subscriptions show c" })
        {
            var result = await CtlRunner.RunAsync(["--url", url, "--secret", "x", .. command.Split(' ')]);
            Assert.True(result.ExitCode == 1, result.Transcript);
            Assert.Equal($"broker is not running at {url}", result.Stderr);
        }
    }

    [Fact]
    public async Task UnknownCommand_ExitsTwo()
    {
        var result = await CtlRunner.RunAsync(["frobnicate"]);
        Assert.Equal(2, result.ExitCode);
    }
}
