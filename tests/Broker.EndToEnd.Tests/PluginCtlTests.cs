using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>`ctl plugins ...` against a running broker, with a real plugin copied in as an operator would.</summary>
public sealed class PluginCtlTests
{

    private static async Task<string> PublishAndReceiveAsync(BrokerProcess broker, string payload)
    {
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "hello/world", "-q", "1");
        await MosquittoClients.PublishAsync(broker, ["-t", "hello/world", "-q", "1", "-m", payload]);
        return Assert.Single(await MosquittoClients.MessagesAsync(sub, 1)).Payload;
    }

    [Fact]
    public async Task LoadReloadUnload_CopiedPlugin_ActsOnTrafficOnlyWhileLoaded()
    {
        await using var broker = await BrokerProcess.StartAsync();
        broker.CopyIntoHome(TestPlugins.OutputOf("TestPlugins.Hello"), "plugins/hello");
        Directory.CreateDirectory(Path.Combine(broker.HomeDirectory, "etc", "plugins"));
        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "plugins", "hello.conf"), "greeting = rewritten\n", TestContext.Current.CancellationToken);

        var list = await CtlRunner.RunAsync(broker, "plugins", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        Assert.Matches(@"(?m)^hello\s+1\.0\.0\s+stopped\s+no\s", list.Stdout);
        Assert.Equal("original", await PublishAndReceiveAsync(broker, "original"));

        var load = await CtlRunner.RunAsync(broker, "plugins", "load", "hello");
        Assert.True(load.ExitCode == 0, load.Transcript);
        Assert.Equal("Plugin hello loaded", load.Stdout);
        Assert.Matches(@"(?m)^hello\s+1\.0\.0\s+running\s+yes\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
        Assert.Contains("hello", await File.ReadAllLinesAsync(Path.Combine(broker.HomeDirectory, "data", "loaded_plugins"), TestContext.Current.CancellationToken));
        Assert.Equal("rewritten", await PublishAndReceiveAsync(broker, "original"));

        var again = await CtlRunner.RunAsync(broker, "plugins", "load", "hello");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already", again.Stderr, StringComparison.OrdinalIgnoreCase);

        // reload re-reads the plugin's .conf.
        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "plugins", "hello.conf"), "greeting = reloaded\n", TestContext.Current.CancellationToken);
        var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", "hello");
        Assert.True(reload.ExitCode == 0, reload.Transcript);
        Assert.Equal("reloaded", await PublishAndReceiveAsync(broker, "original"));

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "hello");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        Assert.Equal("original", await PublishAndReceiveAsync(broker, "original"));
        Assert.DoesNotContain("hello", await File.ReadAllLinesAsync(Path.Combine(broker.HomeDirectory, "data", "loaded_plugins"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Load_UnknownPluginOrBadConf_ExitsOneNamingTheProblem()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var unknown = await CtlRunner.RunAsync(broker, "plugins", "load", "no_such_plugin");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no_such_plugin", unknown.Stderr, StringComparison.Ordinal);

        broker.CopyIntoHome(TestPlugins.OutputOf("TestPlugins.Hello"), "plugins/hello");
        Directory.CreateDirectory(Path.Combine(broker.HomeDirectory, "etc", "plugins"));
        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "plugins", "hello.conf"), "# ok\nthis line has no equals sign\n", TestContext.Current.CancellationToken);
        var bad = await CtlRunner.RunAsync(broker, "plugins", "load", "hello");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("hello.conf:2", bad.Stderr, StringComparison.Ordinal);

        var notLoaded = await CtlRunner.RunAsync(broker, "plugins", "unload", "hello");
        Assert.Equal(1, notLoaded.ExitCode);

        // A well-formed line with a value the plugin's options reject: named by file, line and key too.
        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "plugins", "hello.conf"), "greeting = hi\ntick_interval = soon\n", TestContext.Current.CancellationToken);
        var badValue = await CtlRunner.RunAsync(broker, "plugins", "load", "hello");
        Assert.Equal(1, badValue.ExitCode);
        Assert.Contains("hello.conf:2: tick_interval", badValue.Stderr, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^hello\s+1\.0\.0\s+failed\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
    }
}
