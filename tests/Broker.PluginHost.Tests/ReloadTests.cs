using Broker.Abstractions;
using Broker.Abstractions.Hooks;

namespace Broker.PluginHost.Tests;

/// <summary>Reload: new instance first, old one after; configuration and assembly read afresh.</summary>
public sealed class ReloadTests
{
    [Fact]
    public async Task ReloadAsync_AuthPlugin_TheChainIsNeverWithoutIt()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);
        var client = new ClientInfo { ClientId = "c1", Username = "intruder" };
        long calls = 0, admitted = 0;
        using var stop = new CancellationTokenSource();

        async Task HammerAsync()
        {
            await Task.Yield();
            while (!stop.IsCancellationRequested)
            {
                var context = new ClientAuthenticateContext { Client = client };
                await home.Engine.Hooks.ClientAuthenticate.RunAsync(context);
                Interlocked.Increment(ref calls);
                if (context.Result != AuthenticationResult.Deny)
                    Interlocked.Increment(ref admitted);
            }
        }

        var hammers = new[] { Task.Run(HammerAsync, TestContext.Current.CancellationToken), Task.Run(HammerAsync, TestContext.Current.CancellationToken) };
        for (var i = 0; i < 20; i++)
        {
            var result = await home.Manager.ReloadAsync("hello");
            Assert.True(result.Succeeded, result.Message);
        }
        await stop.CancelAsync();
        await Task.WhenAll(hammers);

        Assert.True(calls > 0);
        Assert.Equal(0, admitted);
        Assert.Equal(3, home.Engine.Hooks.ClientAuthenticate.Count); // the new instance's three callbacks, none of the old's
        var info = await home.InfoAsync("hello");
        Assert.Equal(PluginState.Running, info.State);
        Assert.Equal(0, info.LeakedInstances);
    }

    [Fact]
    public async Task ReloadAsync_RereadsConfAndPluginJson()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.WriteConf("hello", "greeting = one\n");
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);
        Assert.Equal("one", await PluginManagerTests.PublishAndCaptureAsync(home, "hello/x"));

        home.WriteConf("hello", "greeting = two\n");
        home.Stage("TestPlugins.Hello", "hello", version: "1.1.0"); // a rebuilt plugin copied over the running one
        var result = await home.Manager.ReloadAsync("hello");

        Assert.True(result.Succeeded, result.Message);
        Assert.Equal("two", await PluginManagerTests.PublishAndCaptureAsync(home, "hello/x"));
        Assert.Equal("1.1.0", (await home.InfoAsync("hello")).Version);
        Assert.Equal(1, home.Engine.Hooks.MessagePublish.Count);
    }

    [Fact]
    public async Task ReloadAsync_RebuiltAssemblyAtTheSamePath_NewCodeRuns()
    {
        await using var home = new PluginTestHome();
        var folder = home.Stage("TestPlugins.Hello", "hello");
        var faulty = home.Stage("TestPlugins.Faulty", "faulty");
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);
        Assert.Equal("hello", await PluginManagerTests.PublishAndCaptureAsync(home, "hello/x"));

        // "Rebuild" in place: other code under the same file name, written over the loaded one (not locked).
        File.Copy(Path.Combine(faulty, "TestPlugins.Faulty.dll"), Path.Combine(folder, "TestPlugins.Hello.dll"), overwrite: true);
        File.Delete(Path.Combine(folder, "TestPlugins.Hello.pdb"));
        var result = await home.Manager.ReloadAsync("hello");

        Assert.True(result.Succeeded, result.Message);
        Assert.Equal("x", await PluginManagerTests.PublishAndCaptureAsync(home, "hello/x"));
        Assert.True(home.Engine.Hooks.ClientAuthenticate.IsEmpty, "the new code registers no authentication hook");
        Assert.Equal(0, (await home.InfoAsync("hello")).LeakedInstances);
    }

    [Fact]
    public async Task ReloadAsync_NewInstanceFails_OldOneKeepsRunning()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.WriteConf("hello", "greeting = one\n");
        Assert.True((await home.Manager.LoadAsync("hello")).Succeeded);

        home.WriteConf("hello", "greeting = two\nbroken line\n");
        var result = await home.Manager.ReloadAsync("hello");

        Assert.Equal(PluginError.ConfigurationError, result.Error);
        Assert.Contains("hello.conf:2", result.Message, StringComparison.Ordinal);
        Assert.Contains("running instance is kept", result.Message, StringComparison.Ordinal);
        Assert.Equal(PluginState.Running, (await home.InfoAsync("hello")).State);
        Assert.Equal("one", await PluginManagerTests.PublishAndCaptureAsync(home, "hello/x"));
    }
}
