using Broker.Abstractions.Plugins;

namespace Broker.Plugins.Tests.Auth;

/// <summary>
/// The ssl.* keys every auth plugin binds through the shared <c>BackendTlsOptions</c> section: EMQX's key names under
/// each plugin's own key, each plugin's extra keys, and problems named by file, line and full key.
/// </summary>
public sealed class BackendTlsOptionsTests
{
    private static readonly string[] TlsLines = ["ssl = on", "ssl.cacertfile = /ca.pem", "ssl.certfile = /c.pem", "ssl.keyfile = /k.pem", "ssl.verify = off"];

    private static readonly Dictionary<string, Func<string[], object>> BindAs = new()
    {
        ["auth_redis"] = lines => PluginConf.Bind<global::Broker.Plugins.AuthRedis.AuthRedisOptions>("auth_redis", lines),
        ["auth_mongo"] = lines => PluginConf.Bind<global::Broker.Plugins.AuthMongo.AuthMongoOptions>("auth_mongo", lines),
        ["auth_mysql"] = lines => PluginConf.Bind<global::Broker.Plugins.AuthMysql.AuthMysqlOptions>("auth_mysql", lines),
        ["auth_pgsql"] = lines => PluginConf.Bind<global::Broker.Plugins.AuthPgsql.AuthPgsqlOptions>("auth_pgsql", lines),
        ["auth_ldap"] = lines => PluginConf.Bind<global::Broker.Plugins.AuthLdap.AuthLdapOptions>("auth_ldap", lines),
    };

    private static string[] Under(string key) => [.. TlsLines.Select(line => $"{key}.{line}")];

    [Fact]
    public void EveryPluginWithTheSwitch_BindsTheSameKeysUnderItsOwn()
    {
        var sections = new global::Broker.Plugins.Auth.SwitchedBackendTlsOptions[]
        {
            PluginConf.Bind<global::Broker.Plugins.AuthRedis.AuthRedisOptions>("auth_redis", Under("auth.redis")).Ssl,
            PluginConf.Bind<global::Broker.Plugins.AuthMongo.AuthMongoOptions>("auth_mongo", Under("auth.mongo")).Ssl,
            PluginConf.Bind<global::Broker.Plugins.AuthMysql.AuthMysqlOptions>("auth_mysql", Under("auth.mysql")).Ssl,
            PluginConf.Bind<global::Broker.Plugins.AuthPgsql.AuthPgsqlOptions>("auth_pgsql", Under("auth.pgsql")).Ssl,
        };

        Assert.All(sections, ssl => Assert.Equal((true, "/ca.pem", "/c.pem", "/k.pem", false), (ssl.Enable, ssl.CaCertFile, ssl.CertFile, ssl.KeyFile, ssl.Verify)));
    }

    [Fact]
    public void Ldap_ItsSwitchStartTlsAndTheSharedKeys()
    {
        var options = PluginConf.Bind<global::Broker.Plugins.AuthLdap.AuthLdapOptions>("auth_ldap",
            "auth.ldap.ssl.starttls = on", "auth.ldap.ssl.cacertfile = /ca.pem", "auth.ldap.ssl.verify = off");

        Assert.Equal((false, true, "/ca.pem", false), (options.Ssl.Enable, options.Ssl.StartTls, options.Ssl.CaCertFile, options.Ssl.Verify));
        Assert.True(new global::Broker.Plugins.AuthLdap.AuthLdapOptions().Ssl.Verify);
    }

    [Fact]
    public void Http_FilesAndServerName_NoSwitch()
    {
        var options = PluginConf.Bind<global::Broker.Plugins.AuthHttp.AuthHttpOptions>("auth_http",
            "auth.http.ssl.cacertfile = /ca.pem", "auth.http.ssl.server_name_indication = auth.example");

        Assert.Equal(("/ca.pem", "auth.example", true), (options.Ssl.CaCertFile, options.Ssl.ServerName, options.Ssl.Verify));
        var ex = Assert.Throws<PluginConfigurationException>(() => PluginConf.Bind<global::Broker.Plugins.AuthHttp.AuthHttpOptions>("auth_http", "auth.http.ssl = on"));
        Assert.Contains("auth_http.conf:1: auth.http.ssl", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown key", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("auth_mongo", "auth.mongo.ssl.server_name_indication = x", "auth_mongo.conf:1: auth.mongo.ssl.server_name_indication", "unknown key")]
    [InlineData("auth_redis", "auth.redis.ssl.verfy = off", "auth_redis.conf:1: auth.redis.ssl.verfy", "did you mean auth.redis.ssl.verify?")]
    [InlineData("auth_mysql", "auth.mysql.ssl.verify = maybe", "auth_mysql.conf:1: auth.mysql.ssl.verify = \"maybe\"", "")]
    [InlineData("auth_pgsql", "auth.pgsql.ssl.certfile = /c.pem", "auth_pgsql.conf:1: auth.pgsql.ssl.certfile = \"/c.pem\"", "certfile and keyfile go together")]
    [InlineData("auth_ldap", "auth.ldap.ssl.keyfile = /k.pem", "auth.ldap.ssl.certfile", "certfile and keyfile go together")]
    [InlineData("auth_ldap", "auth.ldap.ssl = on\nauth.ldap.ssl.starttls = on", "auth_ldap.conf:2: auth.ldap.ssl.starttls", "choose one")]
    public void BadTlsKey_NamesFileLineAndFullKey(string plugin, string text, string where, string what)
    {
        var ex = Assert.Throws<PluginConfigurationException>(() => BindAs[plugin](text.Split('\n')));

        Assert.Contains(where, ex.Message, StringComparison.Ordinal);
        Assert.Contains(what, ex.Message, StringComparison.Ordinal);
    }
}
