using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;

namespace Broker.PluginHost.Tests;

/// <summary>Load, start, stop, unload and the errors an operator sees, against real plugin assemblies.</summary>
public sealed class PluginManagerTests
{
    [Fact]
    public async Task LoadAsync_Hello_RunsAndItsHookActsOnPublishes()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.WriteConf("hello", "# greeting for hello/#\ngreeting = bonjour\n");

        var result = await home.Manager.LoadAsync("hello");

        Assert.True(result.Succeeded, result.Message);
        var info = await home.InfoAsync("hello");
        Assert.Equal(PluginState.Running, info.State);
        Assert.Equal("1.0.0", info.Version);
        Assert.Equal(1, home.Engine.Hooks.MessagePublish.Count);
        Assert.Equal("bonjour", await PublishAndCaptureAsync(home, "hello/world"));
        Assert.Equal("x", await PublishAndCaptureAsync(home, "other/world"));
        Assert.True(File.Exists(Path.Combine(home.DataDirectory, "plugins", "hello", "started")), "data/plugins/hello/ exists for the plugin");
    }

    [Fact]
    public async Task UnloadAsync_Hello_RemovesHooksAndTimersAndTheContextIsCollected()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);

        var result = await home.Manager.UnloadAsync("hello");

        Assert.True(result.Succeeded, result.Message);
        Assert.True(home.Engine.Hooks.MessagePublish.IsEmpty);
        Assert.True(home.Engine.Hooks.ClientAuthenticate.IsEmpty);
        // Stopped (not leaking) means the manager saw its WeakReference to the load context die: the plugin left its
        // timer and hooks behind on purpose, so this also proves the host disposed them.
        var info = await home.InfoAsync("hello");
        Assert.Equal(PluginState.Stopped, info.State);
        Assert.Equal(0, info.LeakedInstances);
        Assert.Equal("x", await PublishAndCaptureAsync(home, "hello/world"));
    }

    [Fact]
    public async Task UnloadAsync_PluginRootedInAStatic_IsReportedLeaking()
    {
        await using var home = new PluginTestHome(o => o.UnloadTimeout = TimeSpan.FromMilliseconds(300));
        home.Stage("TestPlugins.Faulty", "leaky");
        home.WriteConf("leaky", "mode = leak\n");
        Assert.True((await home.Manager.LoadAsync("leaky")).Succeeded);
        try
        {
            var result = await home.Manager.UnloadAsync("leaky");

            Assert.True(result.Succeeded, result.Message);
            var info = await home.InfoAsync("leaky");
            Assert.Equal(PluginState.Leaking, info.State);
            Assert.Contains("still in memory", info.Reason, StringComparison.Ordinal);
            Assert.True(home.Engine.Hooks.MessagePublish.IsEmpty, "a leaking plugin still loses its hooks");
        }
        finally
        {
            AppContext.SetData("TestPlugins.Faulty.leak", null);
        }
        // Once the root is gone the listing notices.
        for (var i = 0; i < 50 && (await home.InfoAsync("leaky")).State == PluginState.Leaking; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(PluginState.Stopped, (await home.InfoAsync("leaky")).State);
    }

    [Fact]
    public async Task LoadAsync_StartThrows_FailedWithThePluginsMessageAndTheBrokerKeepsServing()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Faulty", "faulty");
        home.WriteConf("faulty", "mode = throw\n");
        home.Stage("TestPlugins.Hello", "hello");

        var result = await home.Manager.LoadAsync("faulty");

        Assert.Equal(PluginError.StartFailed, result.Error);
        Assert.Contains("boom: the backend is unreachable", result.Message, StringComparison.Ordinal);
        var info = await home.InfoAsync("faulty");
        Assert.Equal(PluginState.Failed, info.State);
        Assert.Contains("boom", info.Reason, StringComparison.Ordinal);
        Assert.True(home.Engine.Hooks.MessagePublish.IsEmpty, "the hook registered before the throw is removed");
        Assert.False(File.Exists(home.LoadedPluginsPath) && File.ReadAllText(home.LoadedPluginsPath).Contains("faulty", StringComparison.Ordinal));
        // The broker carries on: messages route, other plugins load.
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);
        Assert.Equal("hello", await PublishAndCaptureAsync(home, "hello/x"));
    }

    [Fact]
    public async Task LoadAsync_PluginUsesAHostAssemblyItDoesNotShip_FailedNamingIt()
    {
        // The host's Broker.Core is not handed to a plugin: no silent binding to internals (issue 18 item 5).
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Faulty", "internal");
        home.WriteConf("internal", "mode = host_internal\n");

        var result = await home.Manager.LoadAsync("internal");

        Assert.Equal(PluginError.StartFailed, result.Error);
        Assert.Contains("the plugin uses Broker.Core, which the broker does not share with plugins", result.Message, StringComparison.Ordinal);
        Assert.Equal(PluginState.Failed, (await home.InfoAsync("internal")).State);
    }

    [Fact]
    public async Task LoadAsync_StartHangs_FailedAfterTheStartTimeout()
    {
        await using var home = new PluginTestHome(o => o.StartTimeout = TimeSpan.FromMilliseconds(300));
        home.Stage("TestPlugins.Faulty", "hanging");
        home.WriteConf("hanging", "mode = hang\n");

        var result = await home.Manager.LoadAsync("hanging");

        Assert.Equal(PluginError.StartFailed, result.Error);
        Assert.Contains("did not start within 0.3s", result.Message, StringComparison.Ordinal);
        Assert.Equal(PluginState.Failed, (await home.InfoAsync("hanging")).State);
        Assert.True(home.Engine.Hooks.MessagePublish.IsEmpty);
    }

    [Theory]
    [InlineData("3.0", "different major")]
    [InlineData("2.9", "newer than this broker")]
    [InlineData("1.5", "rebuild the plugin against SDK 2")]
    [InlineData("0.9", "different major")]
    public async Task LoadAsync_IncompatibleSdkVersion_Refused(string sdk, string expected)
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello", sdkVersion: sdk);

        var result = await home.Manager.LoadAsync("hello");

        Assert.Equal(PluginError.IncompatibleSdk, result.Error);
        Assert.Contains(expected, result.Message, StringComparison.Ordinal);
        Assert.Contains($"SDK {sdk}", result.Message, StringComparison.Ordinal);
        Assert.True(home.Engine.Hooks.MessagePublish.IsEmpty);
    }

    [Fact]
    public async Task LoadAsync_BadConfLine_ConfigurationErrorNamingFileAndLine()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.WriteConf("hello", "greeting = hi\nthis line has no equals sign\n");

        var result = await home.Manager.LoadAsync("hello");

        Assert.Equal(PluginError.ConfigurationError, result.Error);
        Assert.Contains("hello.conf:2", result.Message, StringComparison.Ordinal);
        Assert.Equal(PluginState.Failed, (await home.InfoAsync("hello")).State);
    }

    [Fact]
    public async Task LoadAsync_InvalidManifest_NamesTheFileAndTheField()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.WriteManifest("hello", """{ "name": "hello", "version": "1.0.0", "sdkVersion": "2.0" }""");

        var result = await home.Manager.LoadAsync("hello");

        Assert.Equal(PluginError.InvalidManifest, result.Error);
        Assert.Contains("plugin.json", result.Message, StringComparison.Ordinal);
        Assert.Contains("\"entryAssembly\" is required", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_CorruptAssembly_FailedNotThrown()
    {
        await using var home = new PluginTestHome();
        var folder = home.Stage("TestPlugins.Hello", "hello");
        File.WriteAllText(Path.Combine(folder, "TestPlugins.Hello.dll"), "not a PE file");

        var result = await home.Manager.LoadAsync("hello");

        Assert.Equal(PluginError.StartFailed, result.Error);
        Assert.Contains("plugin hello cannot be loaded", result.Message, StringComparison.Ordinal);
        Assert.Equal(PluginState.Failed, (await home.InfoAsync("hello")).State);
    }

    [Fact]
    public async Task Operations_UnknownAlreadyLoadedNotLoaded_ClearErrors()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");

        Assert.Equal(PluginError.UnknownPlugin, (await home.Manager.LoadAsync("nope")).Error);
        Assert.Equal(PluginError.UnknownPlugin, (await home.Manager.LoadAsync("../etc")).Error);
        Assert.Equal(PluginError.NotLoaded, (await home.Manager.UnloadAsync("hello")).Error);
        Assert.Equal(PluginError.NotLoaded, (await home.Manager.ReloadAsync("hello")).Error);
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);
        var again = await home.Manager.LoadAsync("hello");
        Assert.Equal(PluginError.AlreadyLoaded, again.Error);
        Assert.Equal("plugin hello is already loaded", again.Message);
    }

    [Fact]
    public async Task LoadAndUnload_UpdateLoadedPlugins_AndBootStartsThemInOrder()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.Stage("TestPlugins.JsonNew", "json_new");
        File.WriteAllText(home.LoadedPluginsPath, "# boot list\njson_new   # first\n");

        await home.Manager.BootAsync();
        Assert.Equal(PluginState.Running, (await home.InfoAsync("json_new")).State);
        Assert.True((await home.InfoAsync("json_new")).StartsAtBoot);

        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);
        Assert.Equal(["json_new", "hello"], home.Manager.LoadedPlugins.Read());
        Assert.StartsWith("# boot list\n", File.ReadAllText(home.LoadedPluginsPath), StringComparison.Ordinal);

        Assert.True((await home.Manager.UnloadAsync("json_new")).Succeeded);
        Assert.Equal(["hello"], home.Manager.LoadedPlugins.Read());
        Assert.Contains("# boot list", File.ReadAllText(home.LoadedPluginsPath), StringComparison.Ordinal);

        // As after a restart: a new manager boots what the file lists.
        await home.Manager.StopAllAsync();
        var restarted = home.NewManager();
        await restarted.BootAsync();
        var list = await restarted.ListAsync();
        Assert.Equal(PluginState.Running, list.Single(p => p.Name == "hello").State);
        Assert.Equal(PluginState.Stopped, list.Single(p => p.Name == "json_new").State);
        await restarted.StopAllAsync();
    }

    [Fact]
    public async Task BootAsync_FailingPluginInTheList_OthersStillStart()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Faulty", "faulty");
        home.WriteConf("faulty", "mode = throw\n");
        home.Stage("TestPlugins.Hello", "hello");
        File.WriteAllText(home.LoadedPluginsPath, "missing\nfaulty\nhello\n");

        await home.Manager.BootAsync();

        Assert.Equal(PluginState.Failed, (await home.InfoAsync("faulty")).State);
        Assert.Equal(PluginState.Running, (await home.InfoAsync("hello")).State);
        Assert.Equal(["missing", "faulty", "hello"], home.Manager.LoadedPlugins.Read());
    }

    [Fact]
    public async Task LoadAsync_TwoPluginsWithDifferentVersionsOfOneDependency_RunSideBySide()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.JsonOld", "json_old");
        home.Stage("TestPlugins.JsonNew", "json_new");

        Assert.True((await home.Manager.LoadAsync("json_old")).Succeeded);
        Assert.True((await home.Manager.LoadAsync("json_new")).Succeeded);

        Assert.Equal(12, home.Engine.Metrics.Gauges["json_old.newtonsoft_major"]);
        Assert.Equal(13, home.Engine.Metrics.Gauges["json_new.newtonsoft_major"]);
        Assert.True((await home.Manager.UnloadAsync("json_old")).Succeeded);
        Assert.Equal(PluginState.Stopped, (await home.InfoAsync("json_old")).State);
    }

    [Fact]
    public async Task HookFailures_CountedAgainstThePluginInTheListing()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);
        // A throwing callback registered under the plugin's owner stands in for a faulty plugin hook.
        const string owner = "hello#1"; // the hook owner of the first instance this manager starts
        home.Engine.Hooks.Register(HookPoints.MessagePublish, _ => throw new InvalidOperationException("bad"), HookPriorities.Default + 1, owner);

        await home.Engine.PublishAsync(new BrokerMessage { Topic = "a/b" }, null);
        await home.Engine.PublishAsync(new BrokerMessage { Topic = "a/b" }, null);

        Assert.Equal(2, (await home.InfoAsync("hello")).Hooks.Failures);
    }

    /// <summary>Publishes "x" to <paramref name="topic"/> through the engine and returns the payload that reached routing.</summary>
    internal static async Task<string> PublishAndCaptureAsync(PluginTestHome home, string topic)
    {
        string? seen = null;
        using (home.Engine.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            if (c.Message.Topic == topic)
                seen = Encoding.UTF8.GetString(c.Message.Payload.Span);
            return ValueTask.FromResult(HookResult.Continue);
        }, int.MinValue, "test"))
        {
            await home.Engine.PublishAsync(new BrokerMessage { Topic = topic, Payload = "x"u8.ToArray() }, null);
        }
        return seen ?? throw new InvalidOperationException("message.publish did not run");
    }
}
