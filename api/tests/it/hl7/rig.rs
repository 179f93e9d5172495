//! The HL7 test rig: the demo tenant, the application's own MLLP handler served by the real
//! listener on a free loopback port, and a client that sends framed messages over TCP and
//! reads the ACK. Fixtures are the files of `hl7/tests/fixtures/`.

use std::net::SocketAddr;

use portal_api::mllp::{self, Routes};
use portal_entities::{Hl7MessageStatus, hl7_message, notification, test_order, test_result};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::support::{Backend, TestApp};

pub struct Rig {
    pub app: TestApp,
    pub tenant: Uuid,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    listener: Option<JoinHandle<()>>,
}

/// An ACK as the sender reads it.
#[derive(Debug)]
pub struct AckView {
    pub text: String,
    /// MSA-1.
    pub code: String,
    /// MSA-2.
    pub control_id: String,
    /// MSA-3.
    pub note: String,
    /// ERR segments: (ERR-2 location, ERR-3 code, ERR-4 severity).
    pub errors: Vec<(String, String, String)>,
}

impl AckView {
    fn parse(text: String) -> Self {
        let segments: Vec<Vec<String>> = text
            .split('\r')
            .filter(|s| !s.is_empty())
            .map(|s| s.split('|').map(str::to_owned).collect())
            .collect();
        let field = |seg: &[String], n: usize| seg.get(n).cloned().unwrap_or_default();
        let msa = segments
            .iter()
            .find(|s| s[0] == "MSA")
            .cloned()
            .unwrap_or_default();
        let errors = segments
            .iter()
            .filter(|s| s[0] == "ERR")
            .map(|s| {
                let code = field(s, 3).split('^').next().unwrap_or_default().to_owned();
                (field(s, 2), code, field(s, 4))
            })
            .collect();
        Self {
            code: field(&msa, 1),
            control_id: field(&msa, 2),
            note: field(&msa, 3),
            errors,
            text,
        }
    }

    pub fn assert_code(&self, code: &str) {
        assert_eq!(self.code, code, "ACK: {}", self.text.replace('\r', "\n"));
    }
}

impl Rig {
    /// A fresh database with the demo hospital, and its MLLP interface on a free port.
    pub async fn demo(backend: Backend) -> Self {
        Self::over(TestApp::init(backend).await).await
    }

    /// The rig over an app the test configured (the read cache on, say).
    pub async fn over(app: TestApp) -> Self {
        let (tenant, _) = portal_demo::seed(&app.db).await.expect("seed demo");
        let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        let handler = std::sync::Arc::new(mllp::interface(&app.state, Routes::Tenant(tenant)));
        let (stop, stopped) = oneshot::channel::<()>();
        let listener = tokio::spawn(portal_hl7::serve(
            socket,
            handler,
            portal_hl7::Limits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            app,
            tenant,
            addr,
            stop: Some(stop),
            listener: Some(listener),
        }
    }

    /// Sends one message over a new connection and reads its ACK.
    pub async fn send(&self, message: &[u8]) -> AckView {
        self.connect().await.send(message).await
    }

    /// A connection that stays open for several messages.
    pub async fn connect(&self) -> Client {
        Client {
            stream: TcpStream::connect(self.addr).await.expect("connect"),
        }
    }

    pub async fn send_fixture(&self, name: &str) -> AckView {
        self.send(&fixture(name)).await
    }

    /// Runs SQL as the owner (triggers that make writes fail).
    pub async fn owner_sql(&self, sql: &str) {
        self.app
            .owner
            .execute_raw(Statement::from_string(
                self.app.owner.get_database_backend(),
                sql,
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// (results, orders, notifications) in the database.
    pub async fn counts(&self) -> (u64, u64, u64) {
        let db = &self.app.owner;
        (
            test_result::Entity::find().count(db).await.expect("count"),
            test_order::Entity::find().count(db).await.expect("count"),
            notification::Entity::find().count(db).await.expect("count"),
        )
    }

    pub async fn messages(&self) -> Vec<hl7_message::Model> {
        hl7_message::Entity::find()
            .all(&self.app.owner)
            .await
            .expect("hl7 messages")
    }

    pub async fn message(&self, control_id: &str) -> hl7_message::Model {
        self.messages()
            .await
            .into_iter()
            .find(|m| m.control_id.as_deref() == Some(control_id))
            .unwrap_or_else(|| panic!("no stored message {control_id}"))
    }

    /// The patient with this MRN, or else holding this identifier of a sending facility's
    /// assigning authority (a laboratory's own patient id).
    pub async fn patient(&self, mrn: &str) -> portal_entities::patient::Model {
        use portal_entities::{patient, patient_identifier};
        use sea_orm::{ColumnTrait, QueryFilter};
        let by_mrn = portal_services::patients::find_by_mrn(&self.app.owner, self.tenant, mrn)
            .await
            .expect("lookup");
        if let Some(found) = by_mrn {
            return found;
        }
        let held = patient_identifier::Entity::find()
            .filter(patient_identifier::Column::TenantId.eq(self.tenant))
            .filter(patient_identifier::Column::Value.eq(mrn))
            .one(&self.app.owner)
            .await
            .expect("identifier lookup")
            .unwrap_or_else(|| panic!("no patient {mrn}"));
        patient::Entity::find_by_id(held.patient_id)
            .one(&self.app.owner)
            .await
            .expect("patient lookup")
            .unwrap_or_else(|| panic!("no patient {mrn}"))
    }

    /// The order with this filler order number.
    pub async fn order(&self, filler: &str) -> test_order::Model {
        use sea_orm::{ColumnTrait, QueryFilter};
        test_order::Entity::find()
            .filter(test_order::Column::FillerOrderNumber.eq(filler))
            .one(&self.app.owner)
            .await
            .expect("order lookup")
            .unwrap_or_else(|| panic!("no order {filler}"))
    }

    /// The results of an order, oldest first.
    pub async fn results_of(&self, order: Uuid) -> Vec<test_result::Model> {
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
        test_result::Entity::find()
            .filter(test_result::Column::OrderId.eq(order))
            .order_by_asc(test_result::Column::CreatedAt)
            .order_by_asc(test_result::Column::Id)
            .all(&self.app.owner)
            .await
            .expect("results")
    }

    pub async fn replay(&self) -> portal_hl7_inbound::replay::Report {
        portal_hl7_inbound::replay::dead_letter(&self.app.db, None, false)
            .await
            .expect("replay")
    }

    /// Stops the listener (it finishes what it handles) and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(listener) = self.listener.take() {
            listener.await.expect("listener task");
        }
    }
}

/// One MLLP connection of a sender.
pub struct Client {
    stream: TcpStream,
}

impl Client {
    /// Sends one framed message and reads its ACK.
    pub async fn send(&mut self, message: &[u8]) -> AckView {
        let mut frame = vec![0x0B];
        frame.extend_from_slice(message);
        frame.extend_from_slice(&[0x1C, 0x0D]);
        self.stream.write_all(&frame).await.expect("send");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.ends_with(&[0x1C, 0x0D]) {
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                self.stream.read(&mut chunk),
            )
            .await
            .expect("ACK within 30 s")
            .expect("read");
            assert!(n > 0, "connection closed before an ACK");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = &buf[1..buf.len() - 2];
        AckView::parse(String::from_utf8(body.to_vec()).expect("ACK is UTF-8"))
    }
}

/// A fixture of `hl7/tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hl7/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture with text replaced (another MRN, NPI, control id...).
pub fn edited(name: &str, replacements: &[(&str, &str)]) -> Vec<u8> {
    let mut text = String::from_utf8(fixture(name)).expect("UTF-8 fixture");
    for (from, to) in replacements {
        assert!(text.contains(from), "{name} has no {from:?}");
        text = text.replace(from, to);
    }
    text.into_bytes()
}

pub fn is_dead_letter(status: Hl7MessageStatus) -> bool {
    Hl7MessageStatus::DEAD_LETTER.contains(&status)
}
