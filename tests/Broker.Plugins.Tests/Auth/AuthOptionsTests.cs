using Broker.Abstractions.Plugins;

namespace Broker.Plugins.Tests.Auth;

/// <summary>The auth plugins' .conf keys as EMQX 4 writes them, and bad values named by file, line and key.</summary>
public sealed class AuthOptionsTests
{
    [Fact]
    public void Mongo_AclSelector_UnnumberedAndNumbered_InOrder()
    {
        var options = PluginConf.Bind<global::Broker.Plugins.AuthMongo.AuthMongoOptions>("auth_mongo",
            "auth.mongo.acl_query.selector = username=%u",
            "auth.mongo.acl_query.selector.2 = clientid=%c",
            "auth.mongo.acl_query.selector.1 = username=$all");

        Assert.Equal(["username=%u", "username=$all", "clientid=%c"], options.AclSelectors);
    }

    // EMQX 4.4's TLS keys: `ssl = on` beside the `ssl.*` keys it turns on.
    [Fact]
    public void Redis_SslOnWithItsKeys_AsEmqxWritesThem()
    {
        var options = PluginConf.Bind<global::Broker.Plugins.AuthRedis.AuthRedisOptions>("auth_redis",
            "auth.redis.ssl = on",
            "auth.redis.ssl.cacertfile = /etc/ca.pem",
            "auth.redis.ssl.verify = true",
            "auth.redis.ssl.server_name_indication = myredis");

        Assert.True(options.SslEnable);
        Assert.Equal("/etc/ca.pem", options.SslCaCertFile);
        Assert.Equal("myredis", options.SslServerName);
    }

    [Theory]
    [InlineData("auth_redis", "auth.redis.password_hash = sha1", "auth_redis.conf:1", "auth.redis.password_hash")]
    [InlineData("auth_mysql", "auth.mysql.auth_query = select password from mqtt_user where username = '%u", "auth_mysql.conf:1", "unclosed")]
    [InlineData("auth_pgsql", "auth.pgsql.password_hash = pbkdf2,sha256", "auth_pgsql.conf:1", "pbkdf2,<macfun>")]
    [InlineData("auth_mongo", "auth.mongo.auth_query.selector = username", "auth_mongo.conf:1", "field=value")]
    [InlineData("auth_redis", "auth.redis.on_error = allow", "auth_redis.conf:1", "deny, ignore")]
    public void BadValue_NamesFileLineAndKey(string plugin, string line, string where, string what)
    {
        var ex = Assert.Throws<PluginConfigurationException>(() => plugin switch
        {
            "auth_redis" => (object)PluginConf.Bind<global::Broker.Plugins.AuthRedis.AuthRedisOptions>(plugin, line),
            "auth_mysql" => PluginConf.Bind<global::Broker.Plugins.AuthMysql.AuthMysqlOptions>(plugin, line),
            "auth_pgsql" => PluginConf.Bind<global::Broker.Plugins.AuthPgsql.AuthPgsqlOptions>(plugin, line),
            _ => PluginConf.Bind<global::Broker.Plugins.AuthMongo.AuthMongoOptions>(plugin, line),
        });
        Assert.Contains(where, ex.Message, StringComparison.Ordinal);
        Assert.Contains(what, ex.Message, StringComparison.Ordinal);
    }
}
