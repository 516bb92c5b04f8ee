using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;

namespace Broker.PluginHost.Tests;

/// <summary>
/// Third-party packages (<c>"type": "package"</c> in a plugin's deps.json) are loaded once into the shared dependencies
/// context and reused by reloads and by other plugins carrying the same version; <c>isolateDependencies</c> gives a
/// plugin private copies that go with it; a second version of a shared package is loaded privately and the operator is
/// told. The plugin's own assemblies are collected after unload in every case. Uses the test plugins built against
/// Newtonsoft.Json 13.0.3 (TestPlugins.JsonNew) and 12.0.3 (TestPlugins.JsonOld); each home has its own shared context.
/// </summary>
public sealed class SharedDependencyTests
{
    private const string Json = "Newtonsoft.Json";

    [Fact]
    public async Task Package_LoadedOnceIntoTheSharedContext_ReusedAcrossThreeReloadsAndTwoPlugins()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.JsonNew", "json_a");
        home.Stage("TestPlugins.JsonNew", "json_b");

        var loaded = await home.Manager.LoadAsync("json_a");
        Assert.True(loaded.Succeeded, loaded.Message);
        Assert.DoesNotContain("warning", loaded.Message, StringComparison.Ordinal);
        var shared = home.SharedDependencies.Find(Json);
        Assert.NotNull(shared);
        Assert.Same(home.SharedDependencies, AssemblyLoadContext.GetLoadContext(shared));
        Assert.False(home.SharedDependencies.IsCollectible);

        for (var i = 0; i < 3; i++)
        {
            var result = await home.Manager.ReloadAsync("json_a");
            Assert.True(result.Succeeded, result.Message);
            Assert.Same(shared, home.SharedDependencies.Find(Json));
        }
        Assert.True((await home.Manager.LoadAsync("json_b")).Succeeded);

        Assert.Same(shared, home.SharedDependencies.Find(Json));
        Assert.Single(home.SharedDependencies.Assemblies, a => a.GetName().Name == Json);
        Assert.DoesNotContain(PluginContexts("json_").SelectMany(c => c.Assemblies), a => a.GetName().Name == Json);
        Assert.Equal(13, home.Engine.Metrics.Gauges["json_a.newtonsoft_major"]);
        Assert.Equal(13, home.Engine.Metrics.Gauges["json_b.newtonsoft_major"]);
        Assert.Equal(0, (await home.InfoAsync("json_a")).LeakedInstances);

        Assert.True((await home.Manager.UnloadAsync("json_a")).Succeeded);
        Assert.True((await home.Manager.UnloadAsync("json_b")).Succeeded);
        Assert.Equal(PluginState.Stopped, (await home.InfoAsync("json_a")).State);
        Assert.Equal(PluginState.Stopped, (await home.InfoAsync("json_b")).State);
        Assert.Same(shared, home.SharedDependencies.Find(Json));
    }

    [Fact]
    public async Task Unload_PackageShared_ThePluginsOwnAssemblyIsCollected()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.JsonNew", "json_new");
        Assert.True((await home.Manager.LoadAsync("json_new")).Succeeded);
        var own = WeakAssembly("json_new", "TestPlugins.JsonNew");
        Assert.True(own.IsAlive);

        Assert.True((await home.Manager.UnloadAsync("json_new")).Succeeded);

        Assert.Equal(PluginState.Stopped, (await home.InfoAsync("json_new")).State);
        Assert.True(await CollectedAsync(own), "the plugin's own assembly is still in memory after unload");
        Assert.NotNull(home.SharedDependencies.Find(Json));
    }

    [Theory]
    [InlineData("true")]
    [InlineData("[\"Newtonsoft.Json\"]")]
    public async Task IsolateDependencies_PrivateCopyPerInstance_CollectedWithIt(string value)
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.JsonNew", "json_iso");
        home.WriteManifest("json_iso", $$"""
            { "name": "json_iso", "version": "1.0.0", "entryAssembly": "TestPlugins.JsonNew.dll", "sdkVersion": "2.0",
              "isolateDependencies": {{value}} }
            """);

        Assert.True((await home.Manager.LoadAsync("json_iso")).Succeeded);
        var first = WeakAssembly("json_iso", Json);
        Assert.True(first.IsAlive, "Newtonsoft.Json is in the plugin's own context");
        Assert.Null(home.SharedDependencies.Find(Json));
        Assert.Equal(13, home.Engine.Metrics.Gauges["json_iso.newtonsoft_major"]);

        Assert.True((await home.Manager.ReloadAsync("json_iso")).Succeeded);
        Assert.True(await CollectedAsync(first), "the first instance's private Newtonsoft.Json is collected after the reload");
        var second = WeakAssembly("json_iso", Json);

        Assert.True((await home.Manager.UnloadAsync("json_iso")).Succeeded);
        Assert.Equal(PluginState.Stopped, (await home.InfoAsync("json_iso")).State);
        Assert.True(await CollectedAsync(second), "the private Newtonsoft.Json is collected after unload");
        Assert.Null(home.SharedDependencies.Find(Json));
    }

    [Fact]
    public async Task VersionConflict_SecondVersionLoadedPrivately_AndTheResultSaysSo()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.JsonNew", "json_new");
        home.Stage("TestPlugins.JsonOld", "json_old");
        Assert.True((await home.Manager.LoadAsync("json_new")).Succeeded);

        var result = await home.Manager.LoadAsync("json_old");

        Assert.True(result.Succeeded, result.Message);
        Assert.Contains("warning: Newtonsoft.Json 12.0.3 is loaded privately for plugin json_old: Newtonsoft.Json 13.0.3 is shared (loaded first for json_new)",
            result.Message, StringComparison.Ordinal);
        Assert.Contains("a broker restart is needed to share another version", result.Message, StringComparison.Ordinal);
        Assert.Equal(12, home.Engine.Metrics.Gauges["json_old.newtonsoft_major"]);
        Assert.Equal(13, home.Engine.Metrics.Gauges["json_new.newtonsoft_major"]);
        Assert.Equal(13, home.SharedDependencies.Find(Json)!.GetName().Version!.Major);
        var reloaded = await home.Manager.ReloadAsync("json_old");
        Assert.True(reloaded.Succeeded, reloaded.Message);
        Assert.Contains("Newtonsoft.Json 12.0.3 is loaded privately", reloaded.Message, StringComparison.Ordinal);
        var old = WeakAssembly("json_old", Json);
        Assert.Equal(12, home.Engine.Metrics.Gauges["json_old.newtonsoft_major"]);

        Assert.True((await home.Manager.UnloadAsync("json_old")).Succeeded);
        Assert.Equal(PluginState.Stopped, (await home.InfoAsync("json_old")).State);
        Assert.True(await CollectedAsync(old), "json_old's private Newtonsoft.Json 12 is collected after unload");
        Assert.Equal(13, home.SharedDependencies.Find(Json)!.GetName().Version!.Major);
    }

    [Fact]
    public async Task IsolateDependencies_NotAPackageOfThePlugin_IsRefusedNamingIt()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.JsonNew", "json_new");
        home.WriteManifest("json_new", """
            { "name": "json_new", "version": "1.0.0", "entryAssembly": "TestPlugins.JsonNew.dll", "sdkVersion": "2.0",
              "isolateDependencies": ["Acme.Missing"] }
            """);

        var result = await home.Manager.LoadAsync("json_new");

        Assert.Equal(PluginError.InvalidManifest, result.Error);
        Assert.Contains("isolateDependencies \"Acme.Missing\": not a package of the plugin", result.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"Newtonsoft.Json\"", "must be true, false or an array of package ids")]
    [InlineData("[\"Newtonsoft.Json.dll\"]", "expected a package id")]
    [InlineData("[1]", "must be true, false or an array of package ids")]
    public async Task IsolateDependencies_Invalid_IsRefused(string value, string problem)
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.JsonNew", "json_new");
        home.WriteManifest("json_new", $$"""
            { "name": "json_new", "version": "1.0.0", "entryAssembly": "TestPlugins.JsonNew.dll", "sdkVersion": "2.0",
              "isolateDependencies": {{value}} }
            """);

        var result = await home.Manager.LoadAsync("json_new");

        Assert.Equal(PluginError.InvalidManifest, result.Error);
        Assert.Contains(problem, result.Message, StringComparison.Ordinal);
    }

    /// <summary>The live collectible contexts of instances of plugins whose names start with <paramref name="prefix"/>.</summary>
    private static IEnumerable<AssemblyLoadContext> PluginContexts(string prefix) =>
        AssemblyLoadContext.All.Where(c => c.IsCollectible && c.Name is { } n && n.StartsWith("plugin:" + prefix, StringComparison.Ordinal));

    /// <summary>A weak reference to assembly <paramref name="name"/> of the running instance of <paramref name="plugin"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference WeakAssembly(string plugin, string name)
    {
        var contexts = AssemblyLoadContext.All.Where(c => c.IsCollectible && c.Name is { } n && n.StartsWith($"plugin:{plugin}#", StringComparison.Ordinal))
            .OrderByDescending(c => int.Parse(c.Name![(c.Name!.IndexOf('#', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        var assembly = contexts.SelectMany(c => c.Assemblies).First(a => a.GetName().Name == name);
        return new WeakReference(assembly);
    }

    /// <summary>Collects until <paramref name="weak"/> is dead, for up to 10 s.</summary>
    private static async Task<bool> CollectedAsync(WeakReference weak)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (weak.IsAlive)
        {
            if (TimeProvider.System.GetElapsedTime(started) > TimeSpan.FromSeconds(10))
                return false;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(20, TestContext.Current.CancellationToken); // letting finalizers and the unload run: polling, not ordering
        }
        return true;
    }
}
