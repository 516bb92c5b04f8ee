using System.Text.Json;
using Broker.Abstractions.Plugins;
using Broker.Configuration;

namespace Broker.Plugins.Tests;

/// <summary>
/// What every shipped plugin must carry (issue 4): plugin.json naming its folder, a README, and a commented
/// etc/plugins/&lt;name&gt;.conf that shows every key with its true default.
/// </summary>
public sealed class ShippedPluginTests
{
    /// <summary>Every shipped plugin and its options class. A plugin added under plugins/ must be added here.</summary>
    public static readonly TheoryData<string, Type> Plugins = new()
    {
        { "auto_subscribe", typeof(global::Broker.Plugins.AutoSubscribe.AutoSubscribeOptions) },
        { "presence", typeof(global::Broker.Plugins.Presence.PresenceOptions) },
        { "retainer", typeof(global::Broker.Plugins.Retainer.RetainerOptions) },
        { "topic_rewrite", typeof(global::Broker.Plugins.TopicRewrite.TopicRewriteOptions) },
        { "delayed_publish", typeof(global::Broker.Plugins.DelayedPublish.DelayedPublishOptions) },
        { "auth_redis", typeof(global::Broker.Plugins.AuthRedis.AuthRedisOptions) },
        { "auth_mysql", typeof(global::Broker.Plugins.AuthMysql.AuthMysqlOptions) },
        { "auth_pgsql", typeof(global::Broker.Plugins.AuthPgsql.AuthPgsqlOptions) },
        { "auth_mongo", typeof(global::Broker.Plugins.AuthMongo.AuthMongoOptions) },
        { "auth_jwt", typeof(global::Broker.Plugins.AuthJwt.AuthJwtOptions) },
        { "auth_http", typeof(global::Broker.Plugins.AuthHttp.AuthHttpOptions) },
        { "dashboard", typeof(global::Broker.Plugins.Dashboard.DashboardOptions) },
        { "auth_builtin", typeof(global::Broker.Plugins.AuthBuiltin.AuthBuiltinOptions) },
        { "auth_ldap", typeof(global::Broker.Plugins.AuthLdap.AuthLdapOptions) },
    };

    [Fact]
    public void EveryPluginFolder_IsListedHere()
    {
        var folders = Directory.EnumerateDirectories(Path.Combine(PluginConf.RepositoryRoot(), "plugins"))
            .Where(d => Directory.EnumerateFiles(d, "*.csproj").Any())
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal);
        Assert.Equal(folders, Plugins.Select(row => row.Data.Item1).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Plugins))]
    public void Manifest_NamesItsFolder_AndTheCurrentSdk(string name, Type optionsType)
    {
        Assert.NotNull(optionsType);
        var folder = Path.Combine(PluginConf.RepositoryRoot(), "plugins", name);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "plugin.json")));
        Assert.Equal(name, manifest.RootElement.GetProperty("name").GetString());
        Assert.True(SdkVersion.IsCompatible(Version.Parse(manifest.RootElement.GetProperty("sdkVersion").GetString()!), out var reason), reason);
        Assert.True(File.Exists(Path.Combine(folder, manifest.RootElement.GetProperty("entryAssembly").GetString()!.Replace(".dll", ".csproj", StringComparison.Ordinal))),
            "entryAssembly is the project's assembly");
        Assert.True(File.Exists(Path.Combine(folder, "README.md")), $"plugins/{name}/README.md is missing");
    }

    [Theory]
    [MemberData(nameof(Plugins))]
    public void ShippedConf_ShowsEveryKeyWithItsDefault(string name, Type optionsType)
    {
        var path = Path.Combine(PluginConf.RepositoryRoot(), "etc", "plugins", name + ".conf");
        var expected = ConfDocs.Render(optionsType);
        Assert.True(File.Exists(path), $"etc/plugins/{name}.conf is missing; it should end with:\n{expected}");
        var text = File.ReadAllText(path);
        Assert.True(text.EndsWith(expected, StringComparison.Ordinal), $"etc/plugins/{name}.conf should end with:\n{expected}");
        var shipped = ConfFile.Parse(path).Entries.ToDictionary(e => e.Key, e => e.Value);
        foreach (var (key, value) in ConfDocs.Defaults(optionsType))
        {
            if (value is not null)
                Assert.Equal(value, shipped[key]);
        }
    }
}
