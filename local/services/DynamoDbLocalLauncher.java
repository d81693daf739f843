// Starts DynamoDB Local bound to one host (127.0.0.1 by default) instead of every interface.
//
// DynamoDB Local's jar has no host flag: its DynamoDBProxyServer builds a Jetty Server(port), whose only
// connector listens on all interfaces. This launcher builds the server exactly as the jar's own main does
// (ServerRunner.createServerFromCommandLineArgs, so every DynamoDB Local flag still works), sets the host of
// each Jetty connector before the server starts, then starts it.
//
// Run as a single-file source program (Java 11+, no compile step):
//   java -Djava.library.path=<lib>/DynamoDBLocal_lib [-Dherald.dynamodb.host=127.0.0.1] \
//     -cp '<lib>/DynamoDBLocal.jar:<lib>/DynamoDBLocal_lib/*' DynamoDbLocalLauncher.java -inMemory -sharedDb -port 8000
// The host comes from the system property herald.dynamodb.host (a JVM option: before the .java file).
// With -Dherald.dynamodb.exitOnStdinEof=true the server exits when its standard input closes, so a parent that
// spawns it with a stdin pipe never leaves it behind, even when that parent is killed with SIGKILL.

import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class DynamoDbLocalLauncher {
  private DynamoDbLocalLauncher() {}

  public static void main(String[] args) throws Exception {
    String host = System.getProperty("herald.dynamodb.host", "127.0.0.1");
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);

    Field serverField = DynamoDBProxyServer.class.getDeclaredField("server");
    serverField.setAccessible(true);
    Server server = (Server) serverField.get(proxy);
    Connector[] connectors = server.getConnectors();
    if (connectors.length == 0) {
      throw new IllegalStateException("DynamoDB Local's Jetty server has no connector to bind");
    }
    for (Connector connector : connectors) {
      if (!(connector instanceof ServerConnector serverConnector)) {
        throw new IllegalStateException("Unexpected Jetty connector type: " + connector.getClass().getName());
      }
      serverConnector.setHost(host);
    }

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        proxy.stop();
      } catch (Exception e) {
        System.err.println("DynamoDB Local did not stop cleanly: " + e);
      }
    }, "dynamodb-local-shutdown"));

    if (Boolean.getBoolean("herald.dynamodb.exitOnStdinEof")) {
      Thread watchdog = new Thread(() -> {
        try {
          while (System.in.read() != -1) {
            // Discard input: only the end of the stream matters.
          }
        } catch (Exception e) {
          // A broken pipe means the parent is gone, like end of stream.
        }
        System.exit(0);
      }, "dynamodb-local-stdin-watchdog");
      watchdog.setDaemon(true);
      watchdog.start();
    }

    // safeStart() throws when the port cannot be bound; start() would print the error and keep running.
    proxy.safeStart();
    for (Connector connector : connectors) {
      ServerConnector serverConnector = (ServerConnector) connector;
      System.out.println("DynamoDB Local listening on " + serverConnector.getHost() + ":" + serverConnector.getLocalPort());
    }
    proxy.join();
  }
}
