using System.Reflection;
using System.Runtime.Loader;

namespace Broker.PluginHost.Tests;

/// <summary>
/// plugin.json's <c>sharedAssemblies</c>: loaded into the default load context, once, and kept there across reloads
/// and unloads while the plugin's own context is collected. Uses the shipped auth_ldap, whose libldap interop is such
/// an assembly (Broker.Plugins.AuthLdap.Native), from where Broker.Server bundles it.
/// </summary>
public sealed class SharedAssemblyTests
{
    private const string Native = "Broker.Plugins.AuthLdap.Native";

    private static readonly string ShippedPlugins = typeof(SharedAssemblyTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ShippedPluginsOutput").Value!;

    [Fact]
    public async Task SharedAssembly_LoadedOnceIntoTheDefaultContext_SurvivesReloadAndUnload()
    {
        await using var home = new PluginTestHome();
        StageShipped(home, "auth_ldap");
        // Nothing listens on port 1: the start-up ping fails at once and the plugin starts with its source down.
        home.WriteConf("auth_ldap", "auth.ldap.servers = 127.0.0.1\nauth.ldap.port = 1\nauth.ldap.timeout = 1s\nauth.ldap.pool = 2\n");

        Assert.True((await home.Manager.LoadAsync("auth_ldap")).Succeeded);
        var first = Assert.Single(Loaded(Native));
        Assert.Same(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(first));
        var plugin = Assert.Single(Loaded("Broker.Plugins.AuthLdap"));
        Assert.True(AssemblyLoadContext.GetLoadContext(plugin)!.IsCollectible, "the plugin's own assembly is in its collectible context");

        for (var i = 0; i < 3; i++)
        {
            var result = await home.Manager.ReloadAsync("auth_ldap");
            Assert.True(result.Succeeded, result.Message);
            Assert.Same(first, Assert.Single(Loaded(Native)));
        }
        Assert.Equal(0, (await home.InfoAsync("auth_ldap")).LeakedInstances);

        Assert.True((await home.Manager.UnloadAsync("auth_ldap")).Succeeded);
        Assert.Equal(0, (await home.InfoAsync("auth_ldap")).LeakedInstances);
        Assert.Same(first, Assert.Single(Loaded(Native)));
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

    /// <summary>The assemblies named <paramref name="name"/> in every load context of the process.</summary>
    private static List<Assembly> Loaded(string name) =>
        AssemblyLoadContext.All.SelectMany(c => c.Assemblies).Where(a => a.GetName().Name == name).ToList();

    private static void StageShipped(PluginTestHome home, string name)
    {
        var source = Path.Combine(ShippedPlugins, name);
        Assert.True(File.Exists(Path.Combine(source, "plugin.json")), $"{name} is not bundled at {source}");
        var target = Path.Combine(home.PluginsDirectory, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
    }
}
