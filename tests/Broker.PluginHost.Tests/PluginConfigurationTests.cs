using Broker.Configuration;
using Broker.Server.Configuration;

namespace Broker.PluginHost.Tests;

/// <summary>etc/plugins/&lt;name&gt;.conf, overridden by BROKER_PLUGINS__&lt;NAME&gt;__* variables.</summary>
public sealed class PluginConfigurationTests
{
    [Fact]
    public void Load_EnvironmentOverridesTheConfFile_OnlyForThatPlugin()
    {
        var etc = Directory.CreateTempSubdirectory("broker-etc-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(etc, "plugins"));
            File.WriteAllText(Path.Combine(etc, "plugins", "auth_redis.conf"), "redis.server = 127.0.0.1:6379\nredis.pool_size = 8\n");
            var environment = new Dictionary<string, string>
            {
                ["BROKER_PLUGINS__AUTH_REDIS__REDIS__SERVER"] = "10.0.0.1:6380",
                ["BROKER_PLUGINS__OTHER__REDIS__POOL_SIZE"] = "99",
                ["BROKER_MQTT__MAX_PACKET_SIZE"] = "2MB",
            };

            var configuration = PluginConfiguration.Load(etc, "auth_redis", environment);

            Assert.Equal("10.0.0.1:6380", configuration["redis:server"]);
            Assert.Equal("8", configuration["redis:pool_size"]);
            Assert.Null(configuration["mqtt:max_packet_size"]);
        }
        finally
        {
            Directory.Delete(etc, recursive: true);
        }
    }

    [Fact]
    public void Load_NoConfFile_IsEmpty()
    {
        var configuration = PluginConfiguration.Load(Path.GetTempPath(), "no_such_plugin_conf", new Dictionary<string, string>());
        Assert.Empty(configuration.GetChildren());
    }

    [Fact]
    public void OriginOf_NamesTheFileLine_OrTheEnvironmentVariable()
    {
        var etc = Directory.CreateTempSubdirectory("broker-etc-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(etc, "plugins"));
            var file = Path.Combine(etc, "plugins", "topic_rewrite.conf");
            File.WriteAllText(file, "# rules\nrewrite.pub_rule.1 = a/# ^a/(.+)$ b/$1\n");
            var source = new PluginConfigurationSource(etc, new Dictionary<string, string> { ["BROKER_PLUGINS__TOPIC_REWRITE__REWRITE__SUB_RULE__2"] = "x" });
            var configuration = source.Load("topic_rewrite");

            Assert.Equal($"{file}:2", source.OriginOf(configuration, "rewrite.pub_rule.1"));
            Assert.Equal("environment variable BROKER_PLUGINS__TOPIC_REWRITE__REWRITE__SUB_RULE__2", source.OriginOf(configuration, "rewrite.sub_rule.2"));
            Assert.Null(source.OriginOf(configuration, "rewrite.pub_rule.2"));
        }
        finally
        {
            Directory.Delete(etc, recursive: true);
        }
    }
}

/// <summary>What <c>GET /api/v4/plugins/{name}/config</c> (the dashboard's Plugins page) shows of secrets.</summary>
public sealed class ConfigurationMaskTests
{
    [Theory]
    [InlineData("auth.redis.password", "s3cret", "******")]
    [InlineData("auth.ldap.bind_password", "s3cret", "******")]
    [InlineData("auth.jwt.secret", "s3cret", "******")]
    [InlineData("bridge.token", "abc", "******")]
    [InlineData("auth.http.auth_req.headers.authorization", "Bearer abc", "******")]
    [InlineData("auth.http.auth_req.url", "https://svc:pw@auth.example/mqtt/auth", "https://******@auth.example/mqtt/auth")]
    [InlineData("auth.mongo.server", "mongodb://u:p@db:27017", "mongodb://******@db:27017")]
    [InlineData("auth.mysql.password_hash", "sha256", "sha256")]
    [InlineData("dashboard.password_hash_iterations", "100000", "100000")]
    [InlineData("auth.mongo.auth_query.password_field", "password", "password")]
    [InlineData("auth.http.auth_req.url", "http://127.0.0.1/mqtt/auth", "http://127.0.0.1/mqtt/auth")]
    [InlineData("auth.redis.password", "", "")]
    public void Secrets_AreMasked_OtherValuesShown(string key, string value, string shown) =>
        Assert.Equal(shown, PluginManager.Mask(key, value));
}
