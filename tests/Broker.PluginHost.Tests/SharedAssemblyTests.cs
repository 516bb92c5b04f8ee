using System.Reflection;
using System.Runtime.Loader;

namespace Broker.PluginHost.Tests;

/// <summary>
/// plugin.json's <c>sharedAssemblies</c>: an assembly of the plugin's own loaded into the shared dependencies context,
/// once, and kept there across reloads and unloads while the plugin's own context is collected. Uses the shipped
/// auth_ldap, whose libldap interop is such an assembly (Broker.Plugins.AuthLdap.Native), from where Broker.Server
/// bundles it.
/// </summary>
public sealed class SharedAssemblyTests
{
    private const string Native = "Broker.Plugins.AuthLdap.Native";

    private static readonly string ShippedPlugins = typeof(SharedAssemblyTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ShippedPluginsOutput").Value!;

    [Fact]
    public async Task SharedAssembly_LoadedOnceIntoTheSharedContext_SurvivesReloadAndUnload()
    {
        await using var home = new PluginTestHome();
        StageShipped(home, "auth_ldap");
        // Nothing listens on port 1: the start-up ping fails at once and the plugin starts with its source down.
        home.WriteConf("auth_ldap", "auth.ldap.servers = 127.0.0.1\nauth.ldap.port = 1\nauth.ldap.timeout = 1s\nauth.ldap.pool = 2\n");

        Assert.True((await home.Manager.LoadAsync("auth_ldap")).Succeeded);
        var first = Assert.Single(Loaded(Native, home));
        Assert.Same(home.SharedDependencies, AssemblyLoadContext.GetLoadContext(first));
        var plugin = Assert.Single(Loaded("Broker.Plugins.AuthLdap", home));
        Assert.True(AssemblyLoadContext.GetLoadContext(plugin)!.IsCollectible, "the plugin's own assembly is in its collectible context");

        for (var i = 0; i < 3; i++)
        {
            var result = await home.Manager.ReloadAsync("auth_ldap");
            Assert.True(result.Succeeded, result.Message);
            Assert.Same(first, Assert.Single(Loaded(Native, home)));
        }
        Assert.Equal(0, (await home.InfoAsync("auth_ldap")).LeakedInstances);

        Assert.True((await home.Manager.UnloadAsync("auth_ldap")).Succeeded);
        Assert.Equal(0, (await home.InfoAsync("auth_ldap")).LeakedInstances);
        Assert.Same(first, Assert.Single(Loaded(Native, home)));
    }

    /// <summary>
    /// Every shipped plugin with its backend absent (nothing listens on port 1): loads, reloads twice and unloads, its
    /// instances' contexts are collected, its packages stay in the shared context and none of its own assemblies is
    /// there. In this class, so no other test loads a shipped plugin meanwhile.
    /// </summary>
    [Theory]
    [InlineData("auth_builtin", "")]
    [InlineData("auth_http", "auth.http.auth_req.url = http://127.0.0.1:1/auth\nauth.http.super_req.url = \"\"\nauth.http.acl_req.url = \"\"\n")]
    [InlineData("auth_jwt", "auth.jwt.secret = a-test-secret-of-at-least-32-bytes!!\n")]
    [InlineData("auth_ldap", "auth.ldap.servers = 127.0.0.1\nauth.ldap.port = 1\nauth.ldap.timeout = 1s\nauth.ldap.pool = 2\n")]
    [InlineData("auth_mongo", "auth.mongo.server = 127.0.0.1:1\n")]
    [InlineData("auth_mysql", "auth.mysql.server = 127.0.0.1:1\n")]
    [InlineData("auth_pgsql", "auth.pgsql.server = 127.0.0.1:1\n")]
    [InlineData("auth_redis", "auth.redis.server = 127.0.0.1:1\n")]
    [InlineData("auto_subscribe", "")]
    [InlineData("dashboard", "dashboard.listener.http = 127.0.0.1:0\n")]
    [InlineData("delayed_publish", "")]
    [InlineData("presence", "")]
    [InlineData("retainer", "")]
    [InlineData("topic_rewrite", "")]
    public async Task ShippedPlugin_LoadReloadUnload_OwnContextsCollected(string name, string conf)
    {
        await using var home = new PluginTestHome();
        StageShipped(home, name);
        home.WriteConf(name, conf);
        var dependencies = PluginDependencies.Read(PluginManifest.Load(Path.Combine(home.PluginsDirectory, name)).EntryAssemblyPath);

        var loaded = await home.Manager.LoadAsync(name);
        Assert.True(loaded.Succeeded, loaded.Message);
        Assert.DoesNotContain("warning", loaded.Message, StringComparison.Ordinal);
        for (var i = 0; i < 2; i++)
        {
            var reloaded = await home.Manager.ReloadAsync(name);
            Assert.True(reloaded.Succeeded, reloaded.Message);
        }
        Assert.Equal(0, (await home.InfoAsync(name)).LeakedInstances);
        var unloaded = await home.Manager.UnloadAsync(name);
        Assert.True(unloaded.Succeeded, unloaded.Message);

        var info = await home.InfoAsync(name);
        Assert.Equal(PluginState.Stopped, info.State);
        Assert.Equal(0, info.LeakedInstances);
        var shared = home.SharedDependencies.Assemblies.Select(a => a.GetName().Name!).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var library in dependencies.Libraries.Values)
        {
            foreach (var assembly in library.Assemblies.Where(a => !PluginLoadContext.IsShared(new AssemblyName(a))))
            {
                if (library.IsPackage)
                    Assert.Contains(assembly, shared);
                else if (assembly != Native)
                    Assert.DoesNotContain(assembly, shared);
            }
        }
    }

    [Fact]
    public async Task LoadAsync_SharedAssemblyNotInTheFolder_NamesTheFileAndTheField()
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.WriteManifest("hello", """
            { "name": "hello", "version": "1.0.0", "entryAssembly": "TestPlugins.Hello.dll", "sdkVersion": "2.0",
              "sharedAssemblies": ["Acme.Missing"] }
            """);

        var result = await home.Manager.LoadAsync("hello");

        Assert.Equal(PluginError.InvalidManifest, result.Error);
        Assert.Contains("plugin.json", result.Message, StringComparison.Ordinal);
        Assert.Contains("sharedAssemblies \"Acme.Missing\": Acme.Missing.dll not found", result.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"Acme.Native\"", "\"sharedAssemblies\" must be an array")]
    [InlineData("[\"Acme.Native.dll\"]", "expected an assembly's simple name")]
    [InlineData("[\"TestPlugins.Hello\"]", "the entry assembly")]
    [InlineData("[\"Broker.Abstractions\"]", "the host already shares it")]
    public async Task LoadAsync_InvalidSharedAssemblies_IsRefused(string value, string problem)
    {
        await using var home = new PluginTestHome();
        home.Stage("TestPlugins.Hello", "hello");
        home.WriteManifest("hello", $$"""
            { "name": "hello", "version": "1.0.0", "entryAssembly": "TestPlugins.Hello.dll", "sdkVersion": "2.0",
              "sharedAssemblies": {{value}} }
            """);

        var result = await home.Manager.LoadAsync("hello");

        Assert.Equal(PluginError.InvalidManifest, result.Error);
        Assert.Contains(problem, result.Message, StringComparison.Ordinal);
    }

    /// <summary>The assemblies named <paramref name="name"/> in every load context of the process (but other tests' shared contexts).</summary>
    private static List<Assembly> Loaded(string name, PluginTestHome home) =>
        AssemblyLoadContext.All.Where(c => c is not SharedDependencyContext || c == home.SharedDependencies)
            .SelectMany(c => c.Assemblies).Where(a => a.GetName().Name == name).ToList();

    internal static void StageShipped(PluginTestHome home, string name)
    {
        var source = Path.Combine(ShippedPlugins, name);
        Assert.True(File.Exists(Path.Combine(source, "plugin.json")), $"{name} is not bundled at {source}");
        var target = Path.Combine(home.PluginsDirectory, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
    }
}
